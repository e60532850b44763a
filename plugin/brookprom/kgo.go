package brookprom

import (
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// ClientHooks returns franz-go hooks that feed kp, the Prometheus metrics
// of franz-go's kprom plugin, from the Kafka clients of a brook App. Pass
// them in stream.Config.ClientOpts:
//
//	kp := kprom.NewMetrics("kgo", kprom.Registerer(reg), kprom.Gatherer(reg))
//	cfg.ClientOpts = append(cfg.ClientOpts, kgo.WithHooks(brookprom.ClientHooks(kp)))
//
// An App makes several clients (one to set up topics, the group member, one
// per store while it restores), and kprom registers its metrics once per
// client it is given, which fails on the second. ClientHooks registers
// kp with the group member's client alone, unregisters it when that client
// closes, and meanwhile counts the events of every client of the App
// (connections, bytes, produced and fetched batches) into it. Events
// before the member's client exists (topic setup) are not counted.
func ClientHooks(kp *kprom.Metrics) kgo.Hook { return &clientHooks{kp: kp} }

type clientHooks struct {
	kp     *kprom.Metrics
	mu     sync.RWMutex
	member *kgo.Client
}

var (
	_ kgo.HookNewClient           = (*clientHooks)(nil)
	_ kgo.HookClientClosed        = (*clientHooks)(nil)
	_ kgo.HookBrokerConnect       = (*clientHooks)(nil)
	_ kgo.HookBrokerDisconnect    = (*clientHooks)(nil)
	_ kgo.HookBrokerThrottle      = (*clientHooks)(nil)
	_ kgo.HookProduceBatchWritten = (*clientHooks)(nil)
	_ kgo.HookFetchBatchRead      = (*clientHooks)(nil)
	_ kgo.HookBrokerRead          = (*clientHooks)(nil)
	_ kgo.HookBrokerWrite         = (*clientHooks)(nil)
	_ kgo.HookBrokerE2E           = (*clientHooks)(nil)
)

// active runs fn while the member's client holds kp's registration.
func (h *clientHooks) active(fn func()) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.member != nil {
		fn()
	}
}

// OnNewClient implements kgo.HookNewClient.
func (h *clientHooks) OnNewClient(cl *kgo.Client) {
	if g, _ := cl.OptValue(kgo.ConsumerGroup).(string); g == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.member == nil {
		h.member = cl
		h.kp.OnNewClient(cl)
	}
}

// OnClientClosed implements kgo.HookClientClosed.
func (h *clientHooks) OnClientClosed(cl *kgo.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.member == cl {
		h.kp.OnClientClosed(cl)
		h.member = nil
	}
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h *clientHooks) OnBrokerConnect(meta kgo.BrokerMetadata, d time.Duration, c net.Conn, err error) {
	h.active(func() { h.kp.OnBrokerConnect(meta, d, c, err) })
}

// OnBrokerDisconnect implements kgo.HookBrokerDisconnect.
func (h *clientHooks) OnBrokerDisconnect(meta kgo.BrokerMetadata, c net.Conn) {
	h.active(func() { h.kp.OnBrokerDisconnect(meta, c) })
}

// OnBrokerThrottle implements kgo.HookBrokerThrottle.
func (h *clientHooks) OnBrokerThrottle(meta kgo.BrokerMetadata, d time.Duration, after bool) {
	h.active(func() { h.kp.OnBrokerThrottle(meta, d, after) })
}

// OnProduceBatchWritten implements kgo.HookProduceBatchWritten.
func (h *clientHooks) OnProduceBatchWritten(meta kgo.BrokerMetadata, topic string, p int32, m kgo.ProduceBatchMetrics) {
	h.active(func() { h.kp.OnProduceBatchWritten(meta, topic, p, m) })
}

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (h *clientHooks) OnFetchBatchRead(meta kgo.BrokerMetadata, topic string, p int32, m kgo.FetchBatchMetrics) {
	h.active(func() { h.kp.OnFetchBatchRead(meta, topic, p, m) })
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (h *clientHooks) OnBrokerRead(meta kgo.BrokerMetadata, key int16, n int, wait, read time.Duration, err error) {
	h.active(func() { h.kp.OnBrokerRead(meta, key, n, wait, read, err) })
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (h *clientHooks) OnBrokerWrite(meta kgo.BrokerMetadata, key int16, n int, wait, write time.Duration, err error) {
	h.active(func() { h.kp.OnBrokerWrite(meta, key, n, wait, write, err) })
}

// OnBrokerE2E implements kgo.HookBrokerE2E.
func (h *clientHooks) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	h.active(func() { h.kp.OnBrokerE2E(meta, key, e) })
}
