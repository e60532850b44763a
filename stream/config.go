package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/brookstream/brook/internal/runtime"
	"github.com/brookstream/brook/internal/topo"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures an App. Only AppID and Brokers are required; every
// other field has a default, given in its comment. New validates the whole
// Config once and names the field at fault.
type Config struct {
	// AppID names the application. It is the consumer group id, and
	// prefixes the names of internal topics and the state directory.
	// Required; letters, digits, '.', '_' and '-' only.
	AppID string

	// Brokers are the seed brokers, host:port. Required.
	Brokers []string

	// ClientOpts are extra franz-go client options, for TLS, SASL, client
	// id, and the like. brook sets the consumer group, balancer, commit and
	// isolation options itself: do not pass those.
	ClientOpts []kgo.Opt

	// Logger receives brook's logs, grouped by subsystem. Default: discard.
	Logger *slog.Logger

	// CommitInterval is how often processed offsets are committed (and, with
	// state, stores flushed). Default 100ms, Kafka Streams' default under
	// exactly-once.
	CommitInterval time.Duration

	// Workers is the number of goroutines that process tasks; a task lives
	// on one worker at a time and its records are processed in offset
	// order. Default 1, as Kafka Streams' num.stream.threads.
	Workers int

	// OnBadRecord says what happens to a record that fails to deserialize,
	// or whose processing panics or fails. Default FailOnBadRecord: Run
	// returns a *RecordError naming the record's topic, partition and
	// offset.
	OnBadRecord BadRecordPolicy

	// Guarantee is the processing guarantee. Default ExactlyOnce.
	Guarantee Guarantee

	// InstanceID makes the App a static member of the consumer group
	// (group.instance.id): a restart within the session timeout gets its
	// tasks back without a rebalance. It also names the transactional
	// producer under ExactlyOnce. It must be unique among the App's running
	// instances. Default: none (dynamic membership; the transactional id
	// comes from a random id kept in the state directory).
	InstanceID string

	// TransactionTimeout bounds how long an exactly-once transaction may
	// stay open; a crashed instance's open transaction is aborted by the
	// broker after it, unless the instance restarts first. It is also the
	// deadline of each commit under either guarantee: a commit (or Close)
	// that waits this long on a broker that acknowledges nothing stops the
	// App with an error. Default 10s.
	TransactionTimeout time.Duration

	// MaxPollRecords bounds how many records one poll hands to the workers.
	// Default 10000.
	MaxPollRecords int

	// StateDir is the root of local state: a task's stores live in a Pebble
	// database in <StateDir>/<AppID>/<task>. Two instances of one app on one
	// machine need different StateDirs; the second to start on a shared one
	// fails with a *StateDirLockedError. Default <os.TempDir()>/brook.
	StateDir string

	// InMemoryState keeps stores in memory instead of Pebble. They are
	// still backed by changelog topics, and restored from them in full when
	// a task starts. Default false.
	InMemoryState bool

	// StateCacheBytes is the Pebble block cache shared by every task of the
	// App. Default 64 MiB.
	StateCacheBytes int64

	// MemTableBytes is the Pebble memtable size of each task's database; a
	// task holds up to two. Default 4 MiB.
	MemTableBytes int

	// StoreCacheBytes is the write-back cache of each store of each task:
	// repeated updates of a key within a commit interval cost one Pebble
	// write and one changelog record. A store whose dirty entries exceed it
	// makes the App commit early. Default 4 MiB.
	//
	// The memory for state is about StateCacheBytes + tasks x
	// (2 x MemTableBytes + stores x StoreCacheBytes), whatever the number of
	// keys.
	StoreCacheBytes int

	// OnRestore, if set, is called as stores are restored from their
	// changelogs: every 100ms or so while a store restores, and once when it
	// is done. It runs on a worker goroutine and must return quickly.
	OnRestore func(RestoreProgress)
}

// RestoreProgress reports the restoration of one store of one task from
// its changelog: how many records were applied and how many there are
// between the local checkpoint and the end of the changelog.
type RestoreProgress = runtime.RestoreProgress

// Guarantee is a processing guarantee.
type Guarantee int

const (
	// ExactlyOnce makes every input record affect the output and the state
	// exactly once, whatever crashes: each commit interval is one Kafka
	// transaction holding the output, the changelog records and the consumed
	// offsets, and stores apply their writes only after it commits.
	// Consumers of the output must read with read_committed.
	ExactlyOnce Guarantee = iota
	// AtLeastOnce commits offsets only after every record that their input
	// produced was acknowledged. After a crash some input is processed
	// again: output may repeat and state may count it twice.
	AtLeastOnce
)

// String returns the name of the value, as written in Go.
func (g Guarantee) String() string {
	switch g {
	case ExactlyOnce:
		return "ExactlyOnce"
	case AtLeastOnce:
		return "AtLeastOnce"
	}
	return fmt.Sprintf("Guarantee(%d)", int(g))
}

// BadRecordPolicy says what an App does with a bad record: one that fails to
// deserialize, or whose processing panics or returns an error. The zero value
// is FailOnBadRecord.
type BadRecordPolicy struct{ p topo.Policy }

// FailOnBadRecord stops the App: Run returns a *RecordError naming the
// record's topic, partition, offset and the cause. The record's offset is not
// committed, so after a fix the App reads it again. This is the default.
func FailOnBadRecord() BadRecordPolicy { return BadRecordPolicy{} }

// SkipBadRecord logs the record's topic, partition, offset and the error at
// Warn level, counts it, and goes on.
func SkipBadRecord() BadRecordPolicy { return BadRecordPolicy{topo.Policy{Kind: topo.PolicySkip}} }

// DeadLetterTopic sends a bad record to topic and goes on. The dead-letter
// record has the original key and value bytes, timestamp and headers, plus
// the headers brook.error (the error text), brook.topic, brook.partition,
// brook.offset (the origin) and brook.task. The topic is created at start
// if it does not exist. Within the guarantee of the App, a dead-lettered
// record is written before its offset is committed.
func DeadLetterTopic(topic string) BadRecordPolicy {
	return BadRecordPolicy{topo.Policy{Kind: topo.PolicyDeadLetter, Topic: topic}}
}

// Header keys of dead-letter records.
const (
	HeaderError     = topo.HeaderError
	HeaderTopic     = topo.HeaderTopic
	HeaderPartition = topo.HeaderPartition
	HeaderOffset    = topo.HeaderOffset
	HeaderTask      = topo.HeaderTask
)

// ConfigError is a Config field with a bad value.
type ConfigError struct {
	Field string
	Msg   string
}

// Error implements error: it says what went wrong and what to do.
func (e *ConfigError) Error() string { return fmt.Sprintf("brook: Config.%s %s", e.Field, e.Msg) }

func (c *Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.AppID == "" {
		bad("AppID", "is required: it names the consumer group and internal topics")
	}
	for _, r := range c.AppID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			bad("AppID", "%q has %q: use letters, digits, '.', '_' and '-' only, as in a topic name", c.AppID, r)
			break
		}
	}
	if len(c.Brokers) == 0 {
		bad("Brokers", "is required: give at least one host:port")
	}
	if c.CommitInterval < 0 {
		bad("CommitInterval", "is %v: it must be positive (or zero for the default 100ms)", c.CommitInterval)
	}
	if c.Workers < 0 {
		bad("Workers", "is %d: it must be positive (or zero for the default 1)", c.Workers)
	}
	if c.MaxPollRecords < 0 {
		bad("MaxPollRecords", "is %d: it must be positive (or zero for the default 10000)", c.MaxPollRecords)
	}
	if c.OnBadRecord.p.Kind == topo.PolicyDeadLetter && c.OnBadRecord.p.Topic == "" {
		bad("OnBadRecord", "is DeadLetterTopic with an empty topic name")
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = 100 * time.Millisecond
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = 10000
	}
	if c.StateCacheBytes < 0 || c.MemTableBytes < 0 || c.StoreCacheBytes < 0 {
		bad("StateCacheBytes", "MemTableBytes and StoreCacheBytes must not be negative (zero means the default)")
	}
	if c.Guarantee != ExactlyOnce && c.Guarantee != AtLeastOnce {
		bad("Guarantee", "is %v: use ExactlyOnce or AtLeastOnce", c.Guarantee)
	}
	if c.TransactionTimeout < 0 {
		bad("TransactionTimeout", "is %v: it must be positive (or zero for the default 10s)", c.TransactionTimeout)
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = 10 * time.Second
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(os.TempDir(), "brook")
	}
	if c.StateCacheBytes == 0 {
		c.StateCacheBytes = 64 << 20
	}
	if c.MemTableBytes == 0 {
		c.MemTableBytes = 4 << 20
	}
	if c.StoreCacheBytes == 0 {
		c.StoreCacheBytes = 4 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}
