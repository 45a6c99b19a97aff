// Package demo is the small API that `cordon dev` serves when no upstream
// is given, with its OpenAPI document, so the first run needs nothing else.
// Some of its answers misbehave on purpose (a card number in a declared
// field, an undeclared field, a stack trace) to show what the response
// validator stops.
//
// It imports the standard library only.
package demo

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
)

// Spec is the demo API's OpenAPI document.
//
//go:embed openapi.yaml
var Spec []byte

type account struct {
	ID       string  `json:"id"`
	Owner    string  `json:"owner"`
	Balance  float64 `json:"balance"`
	Currency string  `json:"currency"`
}

var accounts = []account{
	{ID: "acc-1", Owner: "Ada Lovelace", Balance: 1250.5, Currency: "EUR"},
	{ID: "acc-2", Owner: "Alan Turing", Balance: 99.99, Currency: "GBP"},
}

// Handler serves the demo API.
func Handler() http.Handler {
	var payments atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, accounts)
	})
	mux.HandleFunc("GET /accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch id := r.PathValue("id"); id {
		case "crash":
			// An upstream bug: a 500 with a stack trace, undeclared.
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("X-Powered-By", "demo/1.0")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "<pre>java.lang.NullPointerException\n\tat com.bank.Accounts.get(Accounts.java:42)</pre>")
		case "leaky":
			// A card number leaking through a declared field.
			w.Header().Set("Server", "demo/1.0")
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "owner": "card 4111 1111 1111 1111",
				"balance": 1, "currency": "EUR"})
		case "extra":
			// An undeclared field (excessive data exposure).
			writeJSON(w, http.StatusOK, map[string]any{"id": id, "owner": "Extra Test", "balance": 1,
				"currency": "EUR", "password_hash": "$2y$10$abcdefghijklmnopqrstuv"})
		default:
			for _, a := range accounts {
				if a.ID == id {
					writeJSON(w, http.StatusOK, a)
					return
				}
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"title":"no such account","status":404}`)
		}
	})
	mux.HandleFunc("POST /payments", func(w http.ResponseWriter, r *http.Request) {
		var p struct {
			Amount   float64 `json:"amount"`
			Currency string  `json:"currency"`
		}
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		n := payments.Add(1)
		writeJSON(w, http.StatusCreated, map[string]any{"id": fmt.Sprintf("pay-%d", n),
			"status": "accepted", "amount": p.Amount, "currency": p.Currency})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
