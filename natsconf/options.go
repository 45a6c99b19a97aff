package natsconf

import (
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
)

// Options renders s and parses the text with nats-server's own config
// parser, so the embedded server (`cordon nats`) runs exactly what an
// operator of the official nats-server would. It uses
// (*server.Options).ProcessConfigString, the same parser as
// ProcessConfigFile without the temporary file (the rendered text has no
// includes to resolve relative to a path). Warnings count as errors: the
// renderer must produce a configuration nats-server has nothing to say
// about.
//
// Signal handling and logging are left to the caller (set NoSigs for an
// embedded server).
func Options(s Server) (*server.Options, error) {
	text, err := Render(s)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(string(text)); err != nil {
		return nil, fmt.Errorf("natsconf: nats-server refused the rendered configuration: %w", err)
	}
	return opts, nil
}
