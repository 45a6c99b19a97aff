package trail

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cordon-gateway/cordon"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// KeyName is the signer name in every checkpoint note.
const KeyName = "cordon-audit"

// Kind tells a checkpoint that pins the growing log from a retention
// boundary that stands in for records removed by retention.
type Kind uint8

// Checkpoint kinds, append-only (stored).
const (
	KindCheckpoint Kind = 1
	KindBoundary   Kind = 2
)

// Checkpoint is a signed statement about one bus's log: its size and root,
// and which stream sequences it covers. The shipper signs one with every
// batch it commits (the database copy) and copies one at intervals to a
// directory the database administrator cannot rewrite.
//
// A boundary (Kind KindBoundary) is written by retention: it pins the tree
// at the last removed record, with the frontier needed to keep verifying
// the records that remain.
type Checkpoint struct {
	Kind     Kind
	LogID    string
	Bus      cordon.Bus
	Size     uint64    // leaves in the tree
	Root     tlog.Hash // tree hash at Size
	PrevSize uint64    // size of the checkpoint this one extends (boundary: the previous boundary)
	FirstSeq uint64    // stream sequence of the log's first kept record (0: empty log)
	LastSeq  uint64    // stream sequence of leaf Size-1 (0: empty log)
	LastTime time.Time // stream time of leaf Size-1
	Before   time.Time // boundary only: records stored before it were removed
	// Frontier lets the tree grow from Size without its leaves. It is not
	// signed: it is believed only if it folds to the signed Root.
	Frontier []byte
	// Note is the signed note; every field above except Frontier is in it.
	Note []byte
}

// Origin names the log a checkpoint belongs to: one per bus per audit
// database (LogID is chosen when the schema is created).
func Origin(logID string, b cordon.Bus) string { return "cordon-audit/" + logID + "/" + b.String() }

// Text is the note text, in the C2SP checkpoint layout (origin, size, root)
// followed by cordon's extension lines.
func (c *Checkpoint) Text() string {
	var sb strings.Builder
	sb.WriteString(Origin(c.LogID, c.Bus) + "\n")
	sb.WriteString(strconv.FormatUint(c.Size, 10) + "\n")
	sb.WriteString(base64.StdEncoding.EncodeToString(c.Root[:]) + "\n")
	switch c.Kind {
	case KindBoundary:
		sb.WriteString("boundary " + c.Before.UTC().Format(time.RFC3339Nano) + "\n")
	default:
		sb.WriteString("checkpoint\n")
	}
	fmt.Fprintf(&sb, "prev %d\nseq %d %d\n", c.PrevSize, c.FirstSeq, c.LastSeq)
	sb.WriteString("time " + formatTime(c.LastTime) + "\n")
	return sb.String()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "-" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// ErrCheckpoint means a note is not a well-formed cordon checkpoint.
var ErrCheckpoint = errors.New("trail: malformed checkpoint")

// parseText reads Text's output back.
func parseText(text string) (*Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 7 {
		return nil, ErrCheckpoint
	}
	c := &Checkpoint{}
	rest, ok := strings.CutPrefix(lines[0], "cordon-audit/")
	logID, busName, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || logID == "" {
		return nil, ErrCheckpoint
	}
	b, err := cordon.ParseBus(busName)
	if err != nil || b.String() != busName {
		return nil, ErrCheckpoint
	}
	c.LogID, c.Bus = logID, b
	if c.Size, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		return nil, ErrCheckpoint
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return nil, ErrCheckpoint
	}
	copy(c.Root[:], root)
	switch kind, arg, _ := strings.Cut(lines[3], " "); kind {
	case "checkpoint":
		c.Kind = KindCheckpoint
	case "boundary":
		c.Kind = KindBoundary
		if c.Before, err = parseTime(arg); err != nil || c.Before.IsZero() {
			return nil, ErrCheckpoint
		}
	default:
		return nil, ErrCheckpoint
	}
	if _, err := fmt.Sscanf(lines[4], "prev %d", &c.PrevSize); err != nil {
		return nil, ErrCheckpoint
	}
	if _, err := fmt.Sscanf(lines[5], "seq %d %d", &c.FirstSeq, &c.LastSeq); err != nil {
		return nil, ErrCheckpoint
	}
	ts, ok := strings.CutPrefix(lines[6], "time ")
	if !ok {
		return nil, ErrCheckpoint
	}
	if c.LastTime, err = parseTime(ts); err != nil {
		return nil, ErrCheckpoint
	}
	// The text must be exactly what Text writes, so one checkpoint has one form.
	if c.Text() != text {
		return nil, ErrCheckpoint
	}
	return c, nil
}

// Signer signs checkpoints with the audit key.
type Signer struct {
	ns   note.Signer
	pub  ed25519.PublicKey
	vkey string
}

// NewSigner wraps the audit Ed25519 private key.
func NewSigner(priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("trail: bad ed25519 private key size")
	}
	pub := priv.Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(KeyName, pub)
	if err != nil {
		return nil, err
	}
	// vkey is name+hash+keydata; the signer key shares name and hash.
	parts := strings.Split(vkey, "+")
	skey := "PRIVATE+KEY+" + KeyName + "+" + parts[1] + "+" +
		base64.StdEncoding.EncodeToString(append([]byte{1}, priv.Seed()...))
	ns, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	return &Signer{ns: ns, pub: pub, vkey: vkey}, nil
}

// Public is the audit public key.
func (s *Signer) Public() ed25519.PublicKey { return s.pub }

// VerifierKey is the note verifier key ("cordon-audit+hash+key").
func (s *Signer) VerifierKey() string { return s.vkey }

// Sign sets c.Note to the signed note of c.
func (s *Signer) Sign(c *Checkpoint) error {
	msg, err := note.Sign(&note.Note{Text: c.Text()}, s.ns)
	if err != nil {
		return fmt.Errorf("trail: sign checkpoint: %w", err)
	}
	c.Note = msg
	return nil
}

// Verifier checks checkpoint notes against the audit public key.
type Verifier struct {
	vs note.Verifiers
}

// NewVerifier trusts the audit public key pub.
func NewVerifier(pub ed25519.PublicKey) (*Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(KeyName, pub)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	return &Verifier{vs: note.VerifierList(v)}, nil
}

// ErrSignature means a checkpoint note is not validly signed by the audit key.
var ErrSignature = errors.New("trail: checkpoint not signed by the audit key")

// Open verifies a signed note and returns the checkpoint it states
// (without Frontier, which is never signed).
func (v *Verifier) Open(msg []byte) (*Checkpoint, error) {
	n, err := note.Open(msg, v.vs)
	if err != nil {
		return nil, ErrSignature
	}
	c, err := parseText(n.Text)
	if err != nil {
		return nil, err
	}
	c.Note = msg
	return c, nil
}

// Same reports whether two checkpoints state the same thing (the note
// fields; frontier and note bytes excluded).
func (c *Checkpoint) Same(o *Checkpoint) bool { return c.Text() == o.Text() }

// CheckFrontier reports whether c's frontier folds to its root.
func (c *Checkpoint) CheckFrontier() (Tree, error) {
	t, err := TreeFrom(c.Size, c.Frontier)
	if err != nil {
		return Tree{}, err
	}
	if r := t.Root(); !bytes.Equal(r[:], c.Root[:]) {
		return Tree{}, ErrFrontier
	}
	return t, nil
}
