package auditcli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit"
	"github.com/cordon-gateway/cordon/audit/trail"
)

func runVerify(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("verify", env)
	var kf keyFlags
	addKeyFlags(fs, c, &kf)
	buses := fs.String("bus", "", "buses to verify (comma-separated names or numbers; default all)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noExternal := fs.Bool("no-external", false, "do not check the external checkpoint copies")
	if err := parse(fs, args); err != nil {
		return err
	}
	pub, err := kf.public(c)
	if err != nil {
		return err
	}
	keys, err := kf.keyring(c)
	if err != nil {
		return err
	}
	bs, err := parseBuses(*buses)
	if err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := audit.VerifyOptions{AuditKey: pub, Keys: keys, Buses: bs}
	if !*noExternal {
		opts.CheckpointDir = kf.checkpointDirOr(c)
	}
	if f, ok := env.Stderr.(*os.File); ok && isTerminal(f) {
		opts.Progress = func(b cordon.Bus, n uint64) { fmt.Fprintf(env.Stderr, "\r%s: %d records checked", b, n) }
	}
	rep, err := audit.Verify(ctx, st, opts)
	if opts.Progress != nil {
		fmt.Fprint(env.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReport(env.Stdout, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("audit verify: %d problem(s); first: %s", len(rep.Problems), rep.Problems[0])
	}
	return nil
}

func printReport(w io.Writer, rep *audit.Report) {
	fmt.Fprintf(w, "log %s\n", rep.LogID)
	for _, b := range rep.Buses {
		fmt.Fprintf(w, "  %-10s %8d records  seq %d..%d  %d checkpoints  %d external  %d signatures re-verified  %d attested  %d refused",
			b.Bus, b.Records, b.FirstSeq, b.LastSeq, b.Checkpoints, b.External, b.Reverified, b.Attested, b.Refused)
		if b.BoundarySize > 0 {
			fmt.Fprintf(w, "  (%d removed by retention)", b.BoundarySize)
		}
		fmt.Fprintln(w)
	}
	for _, wmsg := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", tabClean(wmsg))
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "PROBLEM %s\n", tabClean(p.String()))
	}
	if rep.OK() {
		fmt.Fprintln(w, "OK: every record, checkpoint and signature verified")
	}
}

// filterFlags are search and export's filters.
type filterFlags struct {
	from, to, requestID, bus, operation, path, verdict, rule, client string
	status, limit                                                    int
	refused                                                          bool
}

func addFilterFlags(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	BoolVar(*bool, string, bool, string)
}, f *filterFlags, defLimit int) {
	fs.StringVar(&f.from, "from", "", "stream time from (RFC 3339, YYYY-MM-DD or -DURATION)")
	fs.StringVar(&f.to, "to", "", "stream time before (same forms)")
	fs.StringVar(&f.requestID, "request-id", "", "request id")
	fs.StringVar(&f.bus, "bus", "", "bus (dirty-req, clean-req, dirty-resp, clean-resp or 1-4)")
	fs.StringVar(&f.operation, "operation", "", "API operation (api/operationId)")
	fs.StringVar(&f.path, "path", "", "request path; a trailing * matches a prefix")
	fs.IntVar(&f.status, "status", 0, "response status")
	fs.StringVar(&f.verdict, "verdict", "", "pass, reject, or an outcome kind (denied, invalid, blocked, …)")
	fs.StringVar(&f.rule, "rule", "", "rule that fired (outcome or finding)")
	fs.StringVar(&f.client, "client", "", "client address")
	fs.BoolVar(&f.refused, "refused", false, "only messages whose signature check failed")
	fs.IntVar(&f.limit, "limit", defLimit, "at most this many records (0: all)")
}

func (f *filterFlags) filter(now time.Time) (trail.Filter, error) {
	var out trail.Filter
	var err error
	if out.From, err = parseTime(f.from, now); err != nil {
		return out, err
	}
	if out.To, err = parseTime(f.to, now); err != nil {
		return out, err
	}
	if f.requestID != "" {
		if out.RequestID, err = cordon.ParseRequestID(f.requestID); err != nil {
			return out, UsageError{err.Error()}
		}
	}
	if f.bus != "" {
		if out.Bus, err = cordon.ParseBus(f.bus); err != nil {
			return out, UsageError{err.Error()}
		}
	}
	switch f.verdict {
	case "":
	case "pass":
		no := false
		out.Rejected = &no
	case "reject":
		yes := true
		out.Rejected = &yes
	default:
		k, ok := kindByName(f.verdict)
		if !ok {
			return out, UsageError{fmt.Sprintf("audit: verdict %q: want pass, reject or an outcome kind", f.verdict)}
		}
		out.Outcome = &k
	}
	out.Operation, out.Path, out.Status, out.Rule = f.operation, f.path, f.status, f.rule
	out.Client, out.Refused, out.Limit = f.client, f.refused, f.limit
	return out, nil
}

func kindByName(name string) (cordon.ErrorKind, bool) {
	for k := cordon.ErrorKind(0); k < 64; k++ {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

func runSearch(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("search", env)
	var ff filterFlags
	addFilterFlags(fs, &ff, 100)
	asJSON := fs.Bool("json", false, "JSON lines instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	f, err := ff.filter(env.Now())
	if err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	p := newPrinter(env.Stdout, *asJSON)
	if err := st.Search(ctx, f, p.print); err != nil {
		return err
	}
	return p.flush()
}

func runTrace(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("trace", env)
	asJSON := fs.Bool("json", false, "JSON array instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return UsageError{"usage: cordon audit trace [flags] REQUEST_ID"}
	}
	id, err := cordon.ParseRequestID(fs.Arg(0))
	if err != nil {
		return UsageError{err.Error()}
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var recs []trail.Record
	err = st.Search(ctx, trail.Filter{RequestID: id}, func(r *trail.Record) error {
		recs = append(recs, *r)
		return nil
	})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("audit trace: no record of request %s", id)
	}
	if *asJSON {
		views := make([]View, len(recs))
		for i := range recs {
			views[i] = ViewOf(&recs[i])
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(views)
	}
	fmt.Fprintf(env.Stdout, "request %s (created %s)\n", id, id.Time().UTC().Format(time.RFC3339Nano))
	p := newPrinter(env.Stdout, false)
	for i := range recs {
		if err := p.print(&recs[i]); err != nil {
			return err
		}
	}
	return p.flush()
}

func runExport(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("export", env)
	var ff filterFlags
	addFilterFlags(fs, &ff, 0)
	out := fs.String("out", "", "write to this file instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	f, err := ff.filter(env.Now())
	if err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	w := env.Stdout
	if *out != "" {
		file, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	progress := func(int64) {}
	if f, ok := env.Stderr.(*os.File); ok && isTerminal(f) {
		last := time.Time{}
		progress = func(n int64) {
			if now := time.Now(); now.Sub(last) > 200*time.Millisecond {
				last = now
				fmt.Fprintf(env.Stderr, "\rexported %d records", n)
			}
		}
		defer fmt.Fprint(env.Stderr, "\r\033[K")
	}
	var n int64
	err = st.Search(ctx, f, func(r *trail.Record) error {
		n++
		progress(n)
		return enc.Encode(ViewOf(r))
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("audit export: after %d records: %w", n, err)
	}
	if *out != "" {
		fmt.Fprintf(env.Stderr, "exported %d records to %s\n", n, *out)
	}
	return nil
}

func runTail(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("tail", env)
	buses := fs.String("bus", "", "buses to follow (default all)")
	last := fs.Int("n", 10, "show this many earlier records per bus first")
	rejected := fs.Bool("rejected", false, "only records that carry a rejection or were refused")
	interval := fs.Duration("interval", 500*time.Millisecond, "poll interval")
	asJSON := fs.Bool("json", false, "JSON lines instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	bs, err := parseBuses(*buses)
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		bs = cordon.Buses
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	after := map[cordon.Bus]uint64{}
	for _, b := range bs {
		h, err := st.Head(ctx, b)
		if err != nil {
			return err
		}
		after[b] = h.LastSeq - min(h.LastSeq, uint64(max(*last, 0)))
	}
	p := newPrinter(env.Stdout, *asJSON)
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		for _, b := range bs {
			err := st.Records(ctx, b, after[b], 1000, func(r *trail.Record) error {
				after[b] = r.Seq
				if *rejected && r.Outcome == cordon.KindNone && !r.Sig.Refused() && !r.Expired {
					return nil
				}
				return p.print(r)
			})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		if err := p.flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func runRetain(ctx context.Context, args []string, env Env) error {
	fs, c := newFlags("retain", env)
	var kf keyFlags
	addKeyFlags(fs, c, &kf)
	before := fs.String("before", "", "remove whole partitions that end at or before this time (required)")
	drop := fs.Bool("drop", false, "drop the partitions instead of leaving them detached for archiving")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *before == "" {
		return UsageError{"audit retain: --before DATE is required"}
	}
	cut, err := parseTime(*before, env.Now())
	if err != nil {
		return err
	}
	priv, err := kf.private(c)
	if err != nil {
		return err
	}
	signer, err := trail.NewSigner(priv)
	if err != nil {
		return err
	}
	keys, err := kf.keyring(c)
	if err != nil {
		return err
	}
	st, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := audit.Retain(ctx, st, audit.RetainOptions{Before: cut, Signer: signer, Keys: keys,
		CheckpointDir: kf.checkpointDirOr(c), Drop: *drop})
	if err != nil {
		return err
	}
	if len(res.Partitions) == 0 {
		fmt.Fprintf(env.Stdout, "nothing to remove: no partition ends at or before %s\n", cut.Format(time.RFC3339))
		return nil
	}
	verb := "detached"
	if *drop {
		verb = "dropped"
	}
	fmt.Fprintf(env.Stdout, "%s %d partition(s) before %s: %v\n", verb, len(res.Partitions), res.Cut.Format(time.RFC3339), res.Partitions)
	for _, b := range res.Boundaries {
		fmt.Fprintf(env.Stdout, "  %s: boundary at size %d (last removed seq %d), signed and copied\n", b.Bus, b.Size, b.LastSeq)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
