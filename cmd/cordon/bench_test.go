package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// benchClient keeps enough idle connections for RunParallel's goroutines.
var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}

func benchRequests(b *testing.B, base string, post bool) {
	b.Helper()
	b.ReportAllocs()
	b.SetParallelism(8) // 8 × GOMAXPROCS concurrent clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var resp *http.Response
			var err error
			if post {
				resp, err = benchClient.Post(base+"/items", "application/json", strings.NewReader(`{"name":"bench","price":1.5}`))
			} else {
				resp, err = benchClient.Get(base + "/items/bench")
			}
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkPipeline is one request through cordon dev: frontend, four
// JetStream buses (file storage), both validators with the items spec,
// Ed25519 on every hop, against a local upstream. Compare with
// BenchmarkDirect (the same upstream without cordon).
//
//	go test -run '^$' -bench 'Pipeline|Direct' -benchtime 5s ./cmd/cordon
func BenchmarkPipeline(b *testing.B) {
	for _, mode := range []string{"full", "single-nats", "single-validation"} {
		b.Run(mode, func(b *testing.B) {
			g := startDev(b, newUpstream(), 10*time.Second, mode)
			b.Run("GET", func(b *testing.B) { benchRequests(b, g.Public, false) })
			b.Run("POST", func(b *testing.B) { benchRequests(b, g.Public, true) })
		})
	}
	b.Run("full-hmac", func(b *testing.B) {
		g := startDevWith(b, newUpstream(), 10*time.Second, "full", "testdata/items.yaml",
			func(o *devOptions) { o.signatures = "hmac" })
		b.Run("GET", func(b *testing.B) { benchRequests(b, g.Public, false) })
		b.Run("POST", func(b *testing.B) { benchRequests(b, g.Public, true) })
	})
}

func BenchmarkDirect(b *testing.B) {
	srv := httptest.NewServer(newUpstream())
	defer srv.Close()
	b.Run("GET", func(b *testing.B) { benchRequests(b, srv.URL, false) })
	b.Run("POST", func(b *testing.B) { benchRequests(b, srv.URL, true) })
}
