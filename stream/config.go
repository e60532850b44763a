package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

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

	// MaxPollRecords bounds how many records one poll hands to the workers.
	// Default 10000.
	MaxPollRecords int
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}
