// Package deployment is the one configuration file that describes a cordon
// deployment: its shape (mode), buses, components, keys, APIs and limits.
// Every process reads the same file and runs its role from it.
//
// Decoding is strict (an unknown key is an error with line and column);
// every setting can be overridden by an environment variable named after
// its path with a CORDON_ prefix (buses.dirty_req.url is
// CORDON_BUSES_DIRTY_REQ_URL); defaults are filled by Defaults and
// documented on each field.
//
// It may import the root package and the configuration types of the
// engines it configures; it performs no network I/O.
package deployment
