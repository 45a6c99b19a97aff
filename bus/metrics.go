package bus

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what crosses the buses at one process.
type Metrics struct {
	Refused   *prometheus.CounterVec // bus, reason: a message that failed verification
	Expired   *prometheus.CounterVec // bus
	Handled   *prometheus.CounterVec // bus, result
	Published *prometheus.CounterVec // bus, result
	Latency   *prometheus.HistogramVec
}

// NewMetrics registers the bus metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_bus_refused_total",
			Help: "Messages refused before processing (bad signature, wrong producer, malformed).",
		}, []string{"bus", "reason"}),
		Expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_bus_expired_total",
			Help: "Messages dropped because their deadline had passed.",
		}, []string{"bus"}),
		Handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_bus_handled_total",
			Help: "Messages handled by a stage, by result (ack, nak, term).",
		}, []string{"bus", "result"}),
		Published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cordon_bus_published_total",
			Help: "Messages published, by result (ok, duplicate, error).",
		}, []string{"bus", "result"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cordon_bus_handle_seconds",
			Help:    "Time from receipt to ack of a pipeline message, handler and output publish included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"bus"}),
	}
	if reg != nil {
		reg.MustRegister(m.Refused, m.Expired, m.Handled, m.Published, m.Latency)
	}
	return m
}
