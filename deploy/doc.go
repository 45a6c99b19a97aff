// Package deploy holds no code: it is the home of cordon's deployment
// files (systemd units, the Containerfile and the compose file), and of the
// tests that parse them and hold them to the design's isolation matrix.
// Its tests may import anything; nothing imports it.
package deploy
