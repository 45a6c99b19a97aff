package trail_test

import (
	"crypto/ed25519"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
	"golang.org/x/mod/sumdb/tlog"
)

// storedHashes keeps every hash tlog would store, to compute reference roots.
type storedHashes []tlog.Hash

func (s storedHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = s[x]
	}
	return out, nil
}

func TestTreeMatchesTlog(t *testing.T) {
	var tree trail.Tree
	var stored storedHashes
	for n := int64(0); n < 300; n++ {
		want, err := tlog.TreeHash(n, stored)
		if err != nil {
			t.Fatal(err)
		}
		if got := tree.Root(); got != want {
			t.Fatalf("size %d: root %x, tlog %x", n, got, want)
		}
		// The frontier alone must rebuild the same tree.
		re, err := trail.TreeFrom(tree.Size(), tree.Frontier())
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if re.Root() != tree.Root() {
			t.Fatalf("size %d: rebuilt root differs", n)
		}
		data := []byte(fmt.Sprintf("leaf %d", n))
		hs, err := tlog.StoredHashes(n, data, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		tree.Append(tlog.RecordHash(data))
	}
}

func TestTreeFromRejectsWrongFrontier(t *testing.T) {
	if _, err := trail.TreeFrom(3, make([]byte, 32)); err == nil {
		t.Fatal("size 3 needs two hashes")
	}
}

func sampleRecord() trail.Record {
	return trail.Record{
		Bus: cordon.BusCleanReq, Seq: 7, Time: trail.Micro(time.Now()), Subject: "cordon.clean-req.in",
		RequestID: cordon.NewRequestID(time.Now()), Producer: cordon.StageRequestValidator,
		Expected: cordon.StageRequestValidator, Sig: trail.SigVerified, KeyID: []byte("12345678"),
		Signature: make([]byte, 64), EnvelopeSHA256: trail.Sum([]byte("x")), EnvelopeLen: 1,
		Envelope: []byte("x"), Deadline: trail.Micro(time.Now()), Expired: true, Method: "GET", Path: "/a",
		Query: "q=1", Host: "h", Client: "1.2.3.4", Operation: "api/op", Status: 200,
		ReqHeader: `{"A":["b"]}`, RespHeader: `{"C":["d"]}`, Outcome: cordon.KindDenied,
		OutcomeRule: "r", OutcomePointer: "/p", PolicyVersion: "v1", Findings: `[]`, TraceParent: "tp",
		Capture: trail.CaptureFull, Body: []byte("body"), BodySHA256: trail.Sum([]byte("body")), BodyLen: 4, Masked: 1,
	}
}

// Every stored field must change the leaf: a field outside it could be
// edited without a trace.
func TestLeafCoversEveryField(t *testing.T) {
	base := sampleRecord()
	baseLeaf := base.ComputeLeaf()
	rt := reflect.TypeOf(base)
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.Name == "Leaf" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			r := sampleRecord()
			r.Time, r.Deadline = base.Time, base.Deadline
			r.RequestID = base.RequestID
			v := reflect.ValueOf(&r).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString(v.String() + "!")
			case reflect.Uint8, reflect.Uint64:
				v.SetUint(v.Uint() + 1)
			case reflect.Int, reflect.Int32, reflect.Int64:
				v.SetInt(v.Int() + 1)
			case reflect.Bool:
				v.SetBool(!v.Bool())
			case reflect.Slice:
				v.SetBytes(append([]byte{}, append(v.Bytes(), 1)...))
			case reflect.Array:
				v.Index(0).SetUint(v.Index(0).Uint() + 1)
			case reflect.Struct: // time.Time
				v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Microsecond)))
			default:
				t.Fatalf("field kind %s not covered by this test", v.Kind())
			}
			if r.ComputeLeaf() == baseLeaf {
				t.Fatalf("changing %s does not change the leaf", f.Name)
			}
		})
	}
	t.Run("nil body differs from empty body", func(t *testing.T) {
		a, b := sampleRecord(), sampleRecord()
		b.Time, b.Deadline, b.RequestID = a.Time, a.Deadline, a.RequestID
		a.Body, b.Body = nil, []byte{}
		if a.ComputeLeaf() == b.ComputeLeaf() {
			t.Fatal("nil and empty body must differ")
		}
	})
}

func TestClean(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"valid", "héllo", "héllo"},
		{"nul", "a\x00b", "a\uFFFDb"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trail.Clean(tt.in); got != tt.want {
				t.Fatalf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func testKeys(t testing.TB) (*trail.Signer, *trail.Verifier) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := trail.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	v, err := trail.NewVerifier(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestCheckpointRoundTrip(t *testing.T) {
	s, v := testKeys(t)
	var tree trail.Tree
	for i := range 5 {
		tree.Append(tlog.RecordHash([]byte{byte(i)}))
	}
	cases := []struct {
		name string
		cp   trail.Checkpoint
	}{
		{"checkpoint", trail.Checkpoint{Kind: trail.KindCheckpoint, LogID: "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee",
			Bus: cordon.BusDirtyReq, Size: tree.Size(), Root: tree.Root(), PrevSize: 3, FirstSeq: 1, LastSeq: 5,
			LastTime: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), Frontier: tree.Frontier()}},
		{"empty", trail.Checkpoint{Kind: trail.KindCheckpoint, LogID: "x", Bus: cordon.BusCleanResp}},
		{"boundary", trail.Checkpoint{Kind: trail.KindBoundary, LogID: "x", Bus: cordon.BusDirtyResp, Size: 5,
			Root: tree.Root(), FirstSeq: 6, LastSeq: 5, Before: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC),
			LastTime: time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp := tc.cp
			if err := s.Sign(&cp); err != nil {
				t.Fatal(err)
			}
			got, err := v.Open(cp.Note)
			if err != nil {
				t.Fatalf("Open: %v\n%s", err, cp.Note)
			}
			if !got.Same(&cp) || got.Root != cp.Root || got.Size != cp.Size || !got.LastTime.Equal(cp.LastTime) {
				t.Fatalf("round trip: got %+v want %+v", got, cp)
			}
			// Any change to the text breaks the signature.
			bad := []byte(strings.Replace(string(cp.Note), "\nprev ", "\nprev 1", 1))
			if _, err := v.Open(bad); err == nil {
				t.Fatal("altered note verified")
			}
		})
	}
	t.Run("other key", func(t *testing.T) {
		other, _ := testKeys(t)
		cp := cases[0].cp
		if err := other.Sign(&cp); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Open(cp.Note); err == nil {
			t.Fatal("note signed by another key verified")
		}
	})
	t.Run("frontier", func(t *testing.T) {
		cp := cases[0].cp
		if _, err := cp.CheckFrontier(); err != nil {
			t.Fatal(err)
		}
		cp.Frontier = append([]byte{}, cp.Frontier...)
		cp.Frontier[0] ^= 1
		if _, err := cp.CheckFrontier(); err == nil {
			t.Fatal("altered frontier accepted")
		}
	})
}

// FuzzOpen: checkpoint notes are read back from files and databases an
// attacker may have written.
func FuzzOpen(f *testing.F) {
	s, v := testKeys(f)
	cp := trail.Checkpoint{Kind: trail.KindCheckpoint, LogID: "x", Bus: cordon.BusDirtyReq, Size: 1, FirstSeq: 1, LastSeq: 1}
	if err := s.Sign(&cp); err != nil {
		f.Fatal(err)
	}
	f.Add(cp.Note)
	f.Add([]byte(cp.Text()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := v.Open(msg)
		if err != nil {
			return
		}
		if c.Text() == "" {
			t.Fatal("opened checkpoint without text")
		}
	})
}

// FuzzParseText reaches the text parser without a valid signature.
func FuzzParseText(f *testing.F) {
	cp := trail.Checkpoint{Kind: trail.KindBoundary, LogID: "x", Bus: cordon.BusDirtyReq, Size: 1,
		FirstSeq: 2, LastSeq: 1, Before: time.Unix(100, 0)}
	f.Add(cp.Text())
	f.Add("cordon-audit/x/dirty-req\n0\nAAAA\ncheckpoint\nprev 0\nseq 0 0\ntime -\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := trail.ParseText(text)
		if err != nil {
			return
		}
		if c.Text() != text {
			t.Fatalf("parsed %q but it prints as %q", text, c.Text())
		}
	})
}
