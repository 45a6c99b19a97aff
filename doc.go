// Package cordon holds the vocabulary every part of the gateway shares:
// request ids, stage and bus names, the message that crosses every bus,
// findings and verdicts, and the error kinds that the frontend alone maps to
// HTTP statuses.
//
// It imports the standard library only, so the contract between the four
// stages reads without any infrastructure in the way.
package cordon
