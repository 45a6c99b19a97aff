package natsconf

import (
	"slices"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/bus"
)

// JetStream API subjects. A reading user gets the first three for its own
// durable consumer only; the KV ones for the backend's ledger bucket only.
const (
	jsAPIAll       = "$JS.API.>"
	jsMsgNext      = "$JS.API.CONSUMER.MSG.NEXT." // <stream>.<consumer>
	jsConsumerInfo = "$JS.API.CONSUMER.INFO."     // <stream>.<consumer>
	jsAck          = "$JS.ACK."                   // <stream>.<consumer>.>
	jsStreamInfo   = "$JS.API.STREAM.INFO."       // <stream>
	jsDirectGet    = "$JS.API.DIRECT.GET."        // <stream>.>
	kvPrefix       = "$KV."                       // <bucket>.>
	kvStreamPrefix = "KV_"                        // the stream behind a bucket

	// What the system user may read: auth-error advisories.
	sysAuthErr        = "$SYS.SERVER.*.CLIENT.AUTH.ERR"
	sysAccountAuthErr = "$SYS.ACCOUNT.CLIENT.AUTH.ERR"
)

// Permissions returns the subjects u may publish and subscribe to on s,
// sorted. This is the whole least-privilege matrix:
//
//	frontend            pub In(1) and Final(1); sub Reply(1, its ids) and
//	                    Reply(4, its ids)
//	                    (single validation: Reply(1, …) and Reply(3, …))
//	request-validator   bus 1: its consumer on Stream(1), pub Reply(1, *)
//	                    bus 2: pub In(2)
//	backend             bus 2: its consumer on Stream(2), the ledger bucket
//	                    bus 3: pub In(3)
//	                    (single validation: its consumer and the ledger on
//	                    bus 1, pub Reply(3, *) on bus 3)
//	response-validator  bus 3: its consumer on Stream(3); bus 4: pub Reply(4, *)
//	audit               the "audit" consumer of each of its buses
//	admin               pub $JS.API.> (provisioning only)
//	system              sub auth-error advisories (system account)
//
// where "its consumer" is exactly MSG.NEXT, INFO and $JS.ACK of that one
// durable, and every user but the system user may subscribe to its own
// inbox (_INBOX_<name>.>) for JetStream replies and publish acks. An empty
// list means nothing is allowed.
func Permissions(s Server, u User) (pub, sub []string, err error) {
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	if err := s.checkUser(u); err != nil {
		return nil, nil, err
	}
	pub, sub = s.grants(u)
	return pub, sub, nil
}

// grants computes the matrix for a user already checked, or one being
// checked (an empty result means the user has nothing to do here).
func (s *Server) grants(u User) (pub, sub []string) {
	subj := s.Subjects
	consume := func(b cordon.Bus, consumer string) {
		stream := subj.Stream(b)
		pub = append(pub,
			jsMsgNext+stream+"."+consumer,
			jsConsumerInfo+stream+"."+consumer,
			jsAck+stream+"."+consumer+".>")
	}
	ledger := func() {
		bucket := subj.LedgerBucket()
		pub = append(pub,
			kvPrefix+bucket+".>",
			jsStreamInfo+kvStreamPrefix+bucket,
			jsDirectGet+kvStreamPrefix+bucket+".>")
	}
	replies := func(b cordon.Bus) {
		for _, id := range u.FrontendIDs {
			sub = append(sub, subj.Reply(b, id))
		}
	}
	single := s.Mode == ModeSingleValidation

	for _, b := range s.Buses {
		switch u.Role {
		case RoleFrontend:
			switch {
			case b == cordon.BusDirtyReq:
				// Final: its terminal records, read only by the audit
				// (the pipeline reader's durable filters on In).
				pub = append(pub, subj.In(b), subj.Final(b))
				replies(b)
			case b == cordon.BusCleanResp && !single, b == cordon.BusDirtyResp && single:
				replies(b)
			}
		case RoleRequestValidator:
			switch b {
			case cordon.BusDirtyReq:
				consume(b, bus.ConsumerRequestValidator)
				pub = append(pub, subj.Replies(b))
			case cordon.BusCleanReq:
				pub = append(pub, subj.In(b))
			}
		case RoleBackend:
			switch {
			case b == cordon.BusCleanReq && !single, b == cordon.BusDirtyReq && single:
				// The ledger lives on the bus the backend reads.
				consume(b, bus.ConsumerBackend)
				ledger()
			case b == cordon.BusDirtyResp && !single:
				pub = append(pub, subj.In(b))
			case b == cordon.BusDirtyResp && single:
				pub = append(pub, subj.Replies(b))
			}
		case RoleResponseValidator:
			switch b {
			case cordon.BusDirtyResp:
				consume(b, bus.ConsumerResponseValidator)
			case cordon.BusCleanResp:
				pub = append(pub, subj.Replies(b))
			}
		case RoleAudit:
			if len(u.Buses) == 0 || slices.Contains(u.Buses, b) {
				consume(b, bus.ConsumerAudit)
			}
		case RoleAdmin:
			pub = append(pub, jsAPIAll)
		case RoleSystem:
			sub = append(sub, sysAuthErr, sysAccountAuthErr)
		}
	}
	if (len(pub) > 0 || len(sub) > 0) && u.Role != RoleSystem {
		sub = append(sub, bus.InboxPrefix(u.Name)+".>")
	}
	slices.Sort(pub)
	slices.Sort(sub)
	return slices.Compact(pub), slices.Compact(sub)
}
