package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	// Required; letters, digits, '.', '_' and '-' only, starting with a
	// letter or digit, and short enough that every internal topic name
	// (<AppID>-<name>-changelog, <AppID>-<name>-repartition) fits Kafka's
	// 249 characters.
	AppID string

	// Brokers are the seed brokers, host:port (IPv6 hosts in brackets).
	// Required.
	Brokers []string

	// ClientOpts are extra franz-go client options, for TLS, SASL, client
	// id, and the like. brook sets the consumer group, balancer, commit and
	// isolation options itself: do not pass those.
	ClientOpts []kgo.Opt

	// Logger receives brook's logs, grouped by subsystem (kgo for the Kafka
	// client, pebble for the state). franz-go's own messages arrive one
	// level lower than franz-go logs them (its Info as Debug, its Warn as
	// Info, its Error as Warn): they are chatty, and brook reports the
	// trouble that matters itself. Default: records at Warn and above go to
	// the handler of slog.Default() as it is when New is called; to silence
	// brook, pass slog.New(slog.DiscardHandler).
	//
	// While the brokers cannot be reached, the App retries and logs at Warn,
	// every few seconds, what it waits for.
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
	// instances, and made of at most 249 letters, digits, '.', '_' and '-'
	// (Kafka's rule for group.instance.id). Default: none (dynamic membership; the transactional id
	// comes from a random id kept in the state directory).
	InstanceID string

	// ApplicationServer is the endpoint ("host:port") on which this
	// instance serves queries of its state, as Kafka Streams'
	// application.server: the instance advertises it in the consumer group,
	// so that every instance can tell which one holds a key
	// (App.KeyOwner, App.StoreOwners). brook does not listen on it: the
	// service does, over its own protocol. Default: none (the instance is
	// not listed as an owner).
	ApplicationServer string

	// TransactionTimeout bounds how long an exactly-once transaction may
	// stay open; a crashed instance's open transaction is aborted by the
	// broker after it, unless the instance restarts first. It is also the
	// deadline of each commit under either guarantee: a commit (or Close)
	// that waits this long on a broker that acknowledges nothing stops the
	// App with an error. At least MinTransactionTimeout (1s) and twice
	// CommitInterval. Default 10s, or twice CommitInterval if that is more.
	TransactionTimeout time.Duration

	// MaxPollRecords bounds how many records one poll hands to the workers.
	// Each worker queues at most two batches of one partition's records
	// from a poll, and the poll loop holds one more waiting to be queued,
	// so about 4 x MaxPollRecords records wait for the workers at most.
	// Default DefaultMaxPollRecords (5000). See StoreCacheBytes for the
	// App's whole memory budget.
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
	// App (allocated as blocks are read, up to this size). Default 64 MiB.
	StateCacheBytes int64

	// MemTableBytes is the Pebble memtable size of each task's database; a
	// task holds up to two. At least MinMemTableBytes (64 KiB). Default
	// 8 MiB (4 MiB memtables doubled the CPU per record of a count over a
	// million keys: more, smaller tables to compact).
	MemTableBytes int

	// StoreCacheBytes is the write-back cache of each store of each task:
	// repeated updates of a key within a commit interval cost one Pebble
	// write and one changelog record. A store whose dirty entries exceed it
	// makes the App commit early. A store that is empty when its task
	// opens it (a new App, or a store restored from scratch) also keeps a
	// filter of the keys it wrote, of StoreCacheBytes/4, so that looking up
	// a key it never wrote does not read Pebble. It covers a key per
	// byte (a million with the default) at 2% false positives; past that
	// it keeps serving with more false positives (28% at 2.5 times) and
	// is dropped at about six times (90%). Default 4 MiB.
	//
	// Memory. What an App holds is bounded by configuration, whatever the
	// number of keys (see "Memory" in docs/ARCHITECTURE.md):
	//
	//   - state: StateCacheBytes + tasks x (2 x MemTableBytes + stores x
	//     1.25 x StoreCacheBytes): 64 + 4 x (16 + 5) = 148 MiB for four
	//     tasks of one store with the defaults;
	//   - records fetched ahead of the workers: franz-go fetches at most
	//     1 MiB (compressed) at a time from each of at most 2 brokers,
	//     and holds a fetch until it is polled (brook sets kgo's
	//     FetchMaxBytes, FetchMaxPartitionBytes and MaxConcurrentFetches;
	//     ClientOpts may override them);
	//   - records polled and queued for the workers: about 4 x
	//     MaxPollRecords (20,000 records with the default);
	//   - records produced and not yet acknowledged (outputs and, at a
	//     commit, a changelog record per dirty key): at most 10,000
	//     (brook sets kgo's MaxBufferedRecords, whose own default is
	//     50,000; ClientOpts may override it);
	//   - a restore: about three fetches of at most 4 MiB per store
	//     restoring, and for a store restored from offset 0 into an empty
	//     database, 16 MiB to sort its records (the sorted runs go to
	//     files in the task's directory until they are ingested) and,
	//     while the runs are merged at the end, 64 KiB per run (one per
	//     8 MiB of records, at most 64) on each of at most 4 goroutines:
	//     768 KiB for a million small records on 2 CPUs.
	//
	// These are live bytes. Under GOGC 100 (Go's default; brook sets
	// neither GOGC nor a memory limit) the Go heap grows to about twice
	// its live size between collections, so a record held in a buffer
	// costs about twice its size at the process's peak. With cgo on,
	// Pebble allocates its memtables and block cache outside the Go
	// heap. BenchmarkMemory1MKeys (four tasks, a million new keys,
	// exactly-once) peaks at about 170 MiB RSS.
	StoreCacheBytes int

	// OnRestore, if set, is called as stores are restored from their
	// changelogs: every 100ms or so while a store restores, and once when it
	// is done. It runs on the restore's own goroutine (restores run beside
	// processing, with the task's partitions paused) and should return
	// quickly: the task waits for it.
	OnRestore func(RestoreProgress)

	// OnStateChange, if set, is called at every change of the App's
	// State or of what it waits for (Status.Waiting), with the status
	// before and after. Calls come in order, one at a time, on a goroutine
	// of their own, so a slow listener delays no processing; Run waits up
	// to a second for the last call (NotRunning or Error) before it
	// returns. The listener must not call Close; a panic in it is logged
	// at Error and otherwise ignored. Default: none; App.State
	// and App.Status can be read at any time.
	OnStateChange func(old, new Status)

	// ShutdownTimeout bounds the shutdown once Run's context is cancelled
	// (or Close is called): the App stops fetching, finishes the records it
	// holds, commits them, closes its stores and leaves the group (a static
	// member, with InstanceID, does not leave: its tasks wait for it for
	// the session timeout). Whatever is not committed when the timeout
	// passes (a broker down, say) is aborted and processed again at the
	// next start, and Run returns. Default 20s, within Kubernetes' default
	// grace period of 30s.
	ShutdownTimeout time.Duration
	// StandbyReplicas is the number of standby replicas of each task with
	// stores: shadow copies of its stores that other instances of the App
	// keep up to date from the changelogs, so that when the task moves
	// (its owner crashed or left) its new owner, the instance with the
	// smallest lag, restores only the tail. Each standby costs its
	// instance a Pebble database, disk, and a client reading the
	// changelogs. With InMemoryState a standby keeps its copy in memory
	// (as much memory again as the task's stores) and hands it to the task
	// if the task becomes active on its instance. Default 0 (none).
	StandbyReplicas int
	// AcceptableRecoveryLag is how far behind, in changelog records summed
	// over a task's stores, an instance may be and still count as caught
	// up on the task, as Kafka Streams' acceptable.recovery.lag. A task
	// with stores moves (a scale-out, a rebalance) only to an instance
	// caught up on it; when the balance wants it on one that is not, the
	// task keeps running where it is and the other instance gets a warm-up
	// replica of it, a standby kept until it has caught up, after which a
	// probing rebalance moves the task. The new owner then restores only
	// the tail. With InMemoryState an instance is caught up only on the
	// tasks it runs or keeps standbys of (a restarted instance holds
	// nothing). Default 10,000; math.MaxInt64
	// moves every task at once, as without warm-ups.
	AcceptableRecoveryLag int64
	// MaxWarmupReplicas bounds the warm-up replicas (see
	// AcceptableRecoveryLag) running at once across all instances: the
	// tasks beyond it wait for a later rebalance to get one. Warm-ups are
	// not counted in StandbyReplicas. Default 2, as Kafka Streams'
	// max.warmup.replicas.
	MaxWarmupReplicas int
	// ProbingRebalanceInterval is how often an instance holding warm-up
	// replicas asks for a rebalance, so that the tasks whose warm-ups
	// caught up move; an instance also asks once at once when one of its
	// warm-ups first catches up. Default 10 minutes, as Kafka Streams'
	// probing.rebalance.interval.ms.
	ProbingRebalanceInterval time.Duration
	// StateCleanupDelay is how long the state directory of a task that
	// is neither active nor a standby on this instance is kept after its
	// last use, as Kafka Streams' state.cleanup.delay.ms: a task that
	// comes back within it (a rebalance that moves it back, a restart)
	// keeps its state and restores only the changelog's tail; after it,
	// a background janitor deletes the directory. Directories found at
	// start count from their last change on disk, and none is deleted
	// before the App has run for the delay. Ignored with InMemoryState.
	// Default 10 minutes.
	StateCleanupDelay time.Duration
}

// Defaults of the warm-up settings (Config.AcceptableRecoveryLag,
// Config.MaxWarmupReplicas, Config.ProbingRebalanceInterval), those of
// Kafka Streams.
const (
	DefaultAcceptableRecoveryLag    = 10_000
	DefaultMaxWarmupReplicas        = 2
	DefaultProbingRebalanceInterval = 10 * time.Minute
)

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
// brook.offset (the origin) and brook.task (see HeaderError and the
// others). The topic is created at start if it does not exist, accepting
// records as large as the App's own topics do. It must not be a topic the
// App reads: New refuses an input, repartition or changelog topic. Within the guarantee of the App, a dead-lettered
// record is written before its offset is committed.
func DeadLetterTopic(topic string) BadRecordPolicy {
	return BadRecordPolicy{topo.Policy{Kind: topo.PolicyDeadLetter, Topic: topic}}
}

// ConfigError is a Config field with a bad value, or a nil *Builder given
// to New (Field "Builder").
type ConfigError struct {
	// Field is the name of the Config field at fault, such as "AppID", or
	// "Builder" for New's first argument.
	Field string
	// Msg says what is wrong with the value and what to do.
	Msg string
}

// Error implements error: it says what went wrong and what to do.
func (e *ConfigError) Error() string {
	if e.Field == "Builder" {
		return "brook: New: the Builder " + e.Msg
	}
	return fmt.Sprintf("brook: Config.%s %s", e.Field, e.Msg)
}

// DefaultMaxPollRecords is Config.MaxPollRecords when it is zero: 5000
// records per poll (decision 70 in docs/ARCHITECTURE.md: 10,000 let about
// 40,000 polled records wait for a worker, a peak of the Go heap).
const DefaultMaxPollRecords = 5000

// Limits that Config values are checked against.
const (
	// MinMemTableBytes is the smallest MemTableBytes New accepts. Pebble
	// panics below about 1.1 KiB (the size of an empty memtable's arena) and
	// flushes after every few writes well above it; 64 KiB keeps a task's
	// state usable.
	MinMemTableBytes = 64 << 10
	// MinTransactionTimeout is the smallest TransactionTimeout New accepts.
	// TransactionTimeout must also be at least twice CommitInterval: a
	// transaction stays open for a commit interval of work and then for the
	// commit itself.
	MinTransactionTimeout = time.Second
	// maxTopicName is Kafka's limit on the length of a topic name.
	maxTopicName = 249
)

// badRune returns the first rune of s that Kafka does not allow in a topic
// name or group instance id (letters, digits, '.', '_' and '-'), or 0.
func badRune(s string) rune {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return r
		}
	}
	return 0
}

func (c *Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.AppID == "":
		bad("AppID", "is required: it names the consumer group and internal topics")
	case badRune(c.AppID) != 0:
		bad("AppID", "%q has %q: use letters, digits, '.', '_' and '-' only, as in a topic name", c.AppID, badRune(c.AppID))
	case !isAlnum(c.AppID[0]):
		// ".", ".." and names starting with '-' or '_' are unsafe as a
		// directory name or on a command line, or look like Kafka's own
		// internal topics.
		bad("AppID", "%q must start with a letter or a digit: it names a directory under StateDir and the prefix of internal topics", c.AppID)
	case len(c.AppID) > maxTopicName-len("-x-changelog"):
		bad("AppID", "is %d characters long: internal topic names (<AppID>-<name>-changelog) must fit Kafka's limit of %d characters", len(c.AppID), maxTopicName)
	}
	if len(c.Brokers) == 0 {
		bad("Brokers", "is required: give at least one host:port")
	}
	for i, b := range c.Brokers {
		if err := checkHostPort(b); err != nil {
			bad("Brokers", "entry %d %q is not host:port: %v", i, b, err)
		}
	}
	if c.InstanceID != "" {
		switch {
		case badRune(c.InstanceID) != 0:
			bad("InstanceID", "%q has %q: use letters, digits, '.', '_' and '-' only, as Kafka requires of group.instance.id", c.InstanceID, badRune(c.InstanceID))
		case c.InstanceID == "." || c.InstanceID == "..":
			bad("InstanceID", "%q is not allowed by Kafka as a group.instance.id", c.InstanceID)
		case len(c.InstanceID) > maxTopicName:
			bad("InstanceID", "is %d characters long: Kafka allows at most %d", len(c.InstanceID), maxTopicName)
		}
	}
	if c.ApplicationServer != "" {
		if err := checkHostPort(c.ApplicationServer); err != nil {
			bad("ApplicationServer", "%q is not host:port: %v", c.ApplicationServer, err)
		}
	}
	if c.CommitInterval < 0 {
		bad("CommitInterval", "is %v: it must be positive (or zero for the default 100ms)", c.CommitInterval)
	}
	if c.Workers < 0 {
		bad("Workers", "is %d: it must be positive (or zero for the default 1)", c.Workers)
	}
	if c.MaxPollRecords < 0 {
		bad("MaxPollRecords", "is %d: it must be positive (or zero for the default 5000)", c.MaxPollRecords)
	}
	if c.OnBadRecord.p.Kind == topo.PolicyDeadLetter {
		switch t := c.OnBadRecord.p.Topic; {
		case t == "":
			bad("OnBadRecord", "is DeadLetterTopic with an empty topic name")
		case badRune(t) != 0 || t == "." || t == ".." || len(t) > maxTopicName:
			bad("OnBadRecord", "is DeadLetterTopic(%q), which is not a valid topic name: use at most %d letters, digits, '.', '_' and '-'", t, maxTopicName)
		}
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = 100 * time.Millisecond
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.MaxPollRecords == 0 {
		c.MaxPollRecords = DefaultMaxPollRecords
	}
	if c.StateCacheBytes < 0 {
		bad("StateCacheBytes", "is %d: it must not be negative (zero means the default 64 MiB)", c.StateCacheBytes)
	}
	if c.MemTableBytes < 0 {
		bad("MemTableBytes", "is %d: it must not be negative (zero means the default 8 MiB)", c.MemTableBytes)
	} else if c.MemTableBytes > 0 && c.MemTableBytes < MinMemTableBytes {
		bad("MemTableBytes", "is %d: Pebble needs at least %d (64 KiB); zero means the default 8 MiB", c.MemTableBytes, MinMemTableBytes)
	}
	if c.StateCleanupDelay < 0 {
		bad("StateCleanupDelay", "is %v: it must not be negative (zero means the default %v)", c.StateCleanupDelay, runtime.DefaultStateCleanupDelay)
	}
	if c.StateCleanupDelay == 0 {
		c.StateCleanupDelay = runtime.DefaultStateCleanupDelay
	}
	if c.StandbyReplicas < 0 {
		bad("StandbyReplicas", "is %d: it must not be negative (zero, the default, keeps no standbys)", c.StandbyReplicas)
	}
	if c.AcceptableRecoveryLag < 0 {
		bad("AcceptableRecoveryLag", "is %d: it must not be negative (zero means the default %d; math.MaxInt64 moves tasks at once)", c.AcceptableRecoveryLag, DefaultAcceptableRecoveryLag)
	} else if c.AcceptableRecoveryLag == 0 {
		c.AcceptableRecoveryLag = DefaultAcceptableRecoveryLag
	}
	if c.MaxWarmupReplicas < 0 {
		bad("MaxWarmupReplicas", "is %d: it must be positive (or zero for the default %d)", c.MaxWarmupReplicas, DefaultMaxWarmupReplicas)
	} else if c.MaxWarmupReplicas == 0 {
		c.MaxWarmupReplicas = DefaultMaxWarmupReplicas
	}
	if c.ProbingRebalanceInterval < 0 {
		bad("ProbingRebalanceInterval", "is %v: it must be positive (or zero for the default %v)", c.ProbingRebalanceInterval, DefaultProbingRebalanceInterval)
	} else if c.ProbingRebalanceInterval == 0 {
		c.ProbingRebalanceInterval = DefaultProbingRebalanceInterval
	}
	if c.StoreCacheBytes < 0 {
		bad("StoreCacheBytes", "is %d: it must not be negative (zero means the default 4 MiB)", c.StoreCacheBytes)
	}
	if c.Guarantee != ExactlyOnce && c.Guarantee != AtLeastOnce {
		bad("Guarantee", "is %v: use ExactlyOnce or AtLeastOnce", c.Guarantee)
	}
	if c.TransactionTimeout < 0 {
		bad("TransactionTimeout", "is %v: it must be positive (or zero for the default 10s)", c.TransactionTimeout)
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = max(10*time.Second, 2*c.CommitInterval)
	}
	if c.TransactionTimeout > 0 && (c.TransactionTimeout < MinTransactionTimeout || c.TransactionTimeout < 2*c.CommitInterval) {
		bad("TransactionTimeout", "is %v: a commit needs at least %v and twice CommitInterval (%v); raise it or lower CommitInterval",
			c.TransactionTimeout, MinTransactionTimeout, c.CommitInterval)
	}
	if c.ShutdownTimeout < 0 {
		bad("ShutdownTimeout", "is %v: it must be positive (or zero for the default %v)", c.ShutdownTimeout, runtime.DefaultShutdownTimeout)
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = runtime.DefaultShutdownTimeout
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(os.TempDir(), "brook")
	}
	if c.StateCacheBytes == 0 {
		c.StateCacheBytes = 64 << 20
	}
	if c.MemTableBytes == 0 {
		c.MemTableBytes = 8 << 20
	}
	if c.StoreCacheBytes == 0 {
		c.StoreCacheBytes = 4 << 20
	}
	if c.Logger == nil {
		c.Logger = defaultLogger()
	}
	return errors.Join(errs...)
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// checkHostPort checks a broker address: a host (name, IPv4 or bracketed
// IPv6) and a port number.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("bad host %q", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// checkTopics checks the Config against the topic names of the resolved
// topology: the dead-letter topic must be none of the topics the App reads
// or the internal topics it writes, and internal topic names must fit
// Kafka's limit.
func (c *Config) checkTopics(g *topo.Graph, subs []*topo.Subtopology) error {
	var errs []error
	internal := map[string]string{} // topic -> what it is
	for _, s := range subs {
		for _, t := range s.Topics {
			internal[t] = "an input topic"
		}
		for _, st := range s.Stores {
			internal[runtime.ChangelogTopic(c.AppID, st)] = "the changelog topic of store " + strconv.Quote(st)
		}
	}
	for _, r := range g.Repartitions {
		internal[r.Sink.SinkTopic] = "a repartition topic"
	}
	longest := ""
	for _, t := range slices.Sorted(maps.Keys(internal)) {
		if len(t) > len(longest) {
			longest = t
		}
	}
	if len(longest) > maxTopicName {
		errs = append(errs, &ConfigError{Field: "AppID", Msg: fmt.Sprintf("is %d characters long and makes the topic name %q, %d characters long: Kafka allows at most %d; use a shorter AppID (or shorter names in stream.Named)", len(c.AppID), longest, len(longest), maxTopicName)})
	}
	if c.OnBadRecord.p.Kind == topo.PolicyDeadLetter {
		if what, ok := internal[c.OnBadRecord.p.Topic]; ok {
			errs = append(errs, &ConfigError{Field: "OnBadRecord", Msg: fmt.Sprintf("is DeadLetterTopic(%q), which is %s of the App: a bad record would be read again and again; use a topic of its own", c.OnBadRecord.p.Topic, what)})
		}
	}
	return errors.Join(errs...)
}
