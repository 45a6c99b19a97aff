package bus

// PoisonPathSuffix marks the chaos tests' poison request. Only a binary
// built with the chaosfault tag acts on it (bus/fault_chaos.go: chaos/
// builds its cordon so, never a release): there the stage reading bus 1
// fails on every delivery of a request whose path ends in it, the way a
// stage fails on a message that trips a bug, so that the request takes
// the delivery-limit path end to end. A normal build has no hook
// (bus/fault_off.go).
const PoisonPathSuffix = "/poison-retry"
