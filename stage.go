package cordon

import "fmt"

// Stage names a component of the pipeline. Values are stored in envelopes
// and audit rows, so they are append-only.
type Stage uint8

// The stages, in the order a request meets them.
const (
	StageUnknown Stage = iota
	StageFrontend
	StageRequestValidator
	StageBackend
	StageResponseValidator
)

// Stages lists the four pipeline stages in flow order.
var Stages = []Stage{StageFrontend, StageRequestValidator, StageBackend, StageResponseValidator}

var stageNames = [...]string{"unknown", "frontend", "request-validator", "backend", "response-validator"}

func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return fmt.Sprintf("stage(%d)", uint8(s))
}

// ParseStage turns a role name such as "request-validator" into a Stage.
func ParseStage(name string) (Stage, error) {
	for i, n := range stageNames[1:] {
		if n == name {
			return Stage(i + 1), nil
		}
	}
	return StageUnknown, fmt.Errorf("unknown stage %q (want frontend, request-validator, backend or response-validator)", name)
}

// Bus names one of the four isolated message buses. Values are stored in
// audit rows, so they are append-only.
type Bus uint8

// The buses, numbered as in the design document.
const (
	BusDirtyReq  Bus = 1 // frontend -> request validator (and rejections back)
	BusCleanReq  Bus = 2 // request validator -> backend
	BusDirtyResp Bus = 3 // backend -> response validator
	BusCleanResp Bus = 4 // response validator -> frontend
)

// Buses lists the four buses in flow order.
var Buses = []Bus{BusDirtyReq, BusCleanReq, BusDirtyResp, BusCleanResp}

var busNames = [...]string{"", "dirty-req", "clean-req", "dirty-resp", "clean-resp"}

func (b Bus) String() string {
	if b >= 1 && int(b) < len(busNames) {
		return busNames[b]
	}
	return fmt.Sprintf("bus(%d)", uint8(b))
}

// Valid reports whether b is one of the four buses.
func (b Bus) Valid() bool { return b >= BusDirtyReq && b <= BusCleanResp }

// ParseBus accepts a bus number ("1".."4") or its name ("dirty-req", …).
func ParseBus(s string) (Bus, error) {
	for i, n := range busNames[1:] {
		if s == n || s == fmt.Sprint(i+1) {
			return Bus(i + 1), nil
		}
	}
	return 0, fmt.Errorf("unknown bus %q (want 1-4 or dirty-req, clean-req, dirty-resp, clean-resp)", s)
}

// Producer is the stage whose key must sign the main flow of messages on b.
// Bus 1 also carries rejections from the request validator back to the
// frontend; see RejectionProducer.
func (b Bus) Producer() Stage {
	switch b {
	case BusDirtyReq:
		return StageFrontend
	case BusCleanReq:
		return StageRequestValidator
	case BusDirtyResp:
		return StageBackend
	case BusCleanResp:
		return StageResponseValidator
	}
	return StageUnknown
}

// BusesOf returns the two buses a stage connects to in the full deployment.
func BusesOf(s Stage) []Bus {
	switch s {
	case StageFrontend:
		return []Bus{BusDirtyReq, BusCleanResp}
	case StageRequestValidator:
		return []Bus{BusDirtyReq, BusCleanReq}
	case StageBackend:
		return []Bus{BusCleanReq, BusDirtyResp}
	case StageResponseValidator:
		return []Bus{BusDirtyResp, BusCleanResp}
	}
	return nil
}

// MarshalText writes the stage's name.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalText writes the bus's name.
func (b Bus) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
