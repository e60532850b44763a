package runtime

import (
	"context"
	"fmt"
	"strconv"

	"github.com/brookstream/brook/internal/topo"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record size limits. A Kafka broker refuses a record batch larger than the
// topic's max.message.bytes (by default the broker's message.max.bytes,
// 1048588); franz-go, by default, refuses to batch a record larger than
// 1000012 bytes whatever the topic allows. brook reads the limits at start
// and sizes the producer per topic, so a 5 MB value goes through when its
// topic allows it, and a record larger than its topic allows is a bad
// record (topo.RecordTooLargeError) instead of a failed produce.
const (
	// defaultMessageMaxBytes is the limit used when the brokers' cannot be
	// read: franz-go's default, a little below Kafka's.
	defaultMessageMaxBytes = 1000012
	// maxBatchBytes is franz-go's upper bound on a record batch.
	maxBatchBytes = 1 << 30
	// Defaults of franz-go that a larger limit must raise.
	kgoFetchMaxBytes     = 50 << 20
	kgoFetchPartMaxBytes = 1 << 20
	kgoBrokerMaxBytes    = 100 << 20

	// Fetch limits of the App's consumer, lower than franz-go's defaults
	// (50 MiB per fetch, fetches from every broker at once), so that what
	// is fetched ahead of the workers stays bounded whatever the input:
	// at most MaxConcurrentFetches responses of at most FetchMaxBytes
	// each (a partition gives at most FetchMaxPartitionBytes, or its
	// first batch if larger), held until polled. The limits count
	// compressed bytes, and decoded small records take several times their
	// compressed size (BenchmarkMemory1MKeys: 237,000 records buffered
	// with 4 MiB fetches of snappy batches). 1 MiB is still tens of
	// thousands of small records per fetch, more than a worker processes
	// between two polls. Config.ClientOpts can override them.
	FetchMaxBytes          = 1 << 20
	FetchMaxPartitionBytes = 512 << 10
	MaxConcurrentFetches   = 2

	// MaxBufferedRecords bounds the records the App's client holds
	// produced and not yet acknowledged (franz-go's MaxBufferedRecords,
	// 50,000 by default); a Produce past it waits for acknowledgements.
	// A commit over many new keys produces a changelog record per dirty
	// key at once (tens of thousands with the default write-back caches),
	// and each held record is a kgo.Record plus its share of a batch:
	// with franz-go's default, 45,000 records were held at a commit of
	// BenchmarkMemory1MKeys, about 10 MB of live Go heap, so about 20 MB
	// of peak heap under GOGC 100. 10,000 records are still several
	// batches per partition in flight. Config.ClientOpts can override it.
	MaxBufferedRecords = 10_000

	// batchOverhead bounds the bytes a record batch of one record needs
	// besides the record's key, value and header bytes: the v2 batch header
	// (61) and the record's varint fields.
	batchOverhead = 61 + 5 + 1 + 10 + 5 + 5 + 5 + 5
)

// sizing holds the size limits read at start. It is written by setupTopics
// before the client exists and only read after.
type sizing struct {
	broker int32            // message.max.bytes of the brokers
	known  bool             // broker was read from the brokers
	topics map[string]int32 // max.message.bytes of the topics brook writes
	max    int32            // the largest of them
	// floor is the smallest of them: a record batch no larger than floor
	// fits every topic, so checking a record against it needs no lookup
	// of its topic (most records are far smaller than any limit).
	floor int32
}

// limit returns the largest record batch topic accepts.
func (s *sizing) limit(topic string) int32 {
	if l, ok := s.topics[topic]; ok {
		return l
	}
	return s.broker
}

// batchSize returns an upper bound of the size of a record batch holding r
// alone, uncompressed, as franz-go and the broker measure it.
func batchSize(r *kgo.Record) int {
	n := batchOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// CheckSize implements topo.SizeChecker.
func (e *Engine) CheckSize(r *kgo.Record) error {
	n := batchSize(r)
	if n <= int(e.size.floor) {
		return nil
	}
	if l := int(e.size.limit(r.Topic)); n > l {
		return &topo.RecordTooLargeError{Topic: r.Topic, Size: n, Limit: l}
	}
	return nil
}

// readBrokerLimit reads the brokers' message.max.bytes. An error (the client
// may not be allowed to describe the cluster) leaves franz-go's default.
func (e *Engine) readBrokerLimit(ctx context.Context, adm *kadm.Client) {
	e.size.broker = defaultMessageMaxBytes
	e.size.topics = map[string]int32{}
	rcs, err := adm.DescribeBrokerConfigs(ctx)
	if err == nil {
		for _, rc := range rcs {
			if rc.Err != nil {
				err = rc.Err
				continue
			}
			for _, c := range rc.Configs {
				if v, ok := configInt(c, "message.max.bytes"); ok {
					e.size.broker, e.size.known = v, true
				}
			}
		}
	}
	if err != nil {
		e.log.Info("cannot read the brokers' message.max.bytes; assuming franz-go's default", "bytes", e.size.broker, "err", err)
	}
	e.size.max, e.size.floor = e.size.broker, e.size.broker
}

// readTopicLimits reads the max.message.bytes of topics. A topic whose
// config cannot be read, or that does not set its own, gets the brokers'
// limit (Kafka reports the brokers' value as the topic's default; kfake
// reports its built-in default there, whatever the brokers' setting).
func (e *Engine) readTopicLimits(ctx context.Context, adm *kadm.Client, topics []string) {
	if len(topics) == 0 {
		return
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		e.log.Info("cannot read the topics' max.message.bytes; assuming the brokers' message.max.bytes", "topics", topics, "bytes", e.size.broker, "err", err)
		return
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			e.log.Info("cannot read the topic's max.message.bytes; assuming the brokers' message.max.bytes", "topic", rc.Name, "bytes", e.size.broker, "err", rc.Err)
			continue
		}
		for _, c := range rc.Configs {
			v, ok := configInt(c, "max.message.bytes")
			if !ok {
				continue
			}
			if e.size.known && c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				v = e.size.broker
			}
			e.size.topics[rc.Name] = v
			e.size.max = max(e.size.max, v)
			e.size.floor = min(e.size.floor, v)
		}
	}
}

func configInt(c kadm.Config, key string) (int32, bool) {
	if c.Key != key || c.Value == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(*c.Value, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return int32(min(v, maxBatchBytes)), true
}

// internalTopicConfigs returns the configs of a new internal topic: it
// accepts records as large as the largest that the App's own topics accept,
// when that is more than the brokers' default (a repartition or changelog
// record is as large as the records the App reads and writes).
func (e *Engine) internalTopicConfigs(configs map[string]*string) map[string]*string {
	if e.size.max <= e.size.broker {
		return configs
	}
	out := map[string]*string{}
	for k, v := range configs {
		out[k] = v
	}
	v := strconv.Itoa(int(e.size.max))
	out["max.message.bytes"] = &v
	return out
}

// sizeOpts size the client to the limits read at start: record batches per
// topic, and fetches large enough for the largest record.
func (e *Engine) sizeOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.ProducerBatchMaxBytesFn(func(topic string) int32 { return e.size.limit(topic) })}
	opts = append(opts, kgo.FetchMaxBytes(FetchMaxBytes), kgo.FetchMaxPartitionBytes(FetchMaxPartitionBytes),
		kgo.MaxConcurrentFetches(MaxConcurrentFetches), kgo.MaxBufferedRecords(MaxBufferedRecords))
	opts = append(opts, e.fetchSizeOpts(FetchMaxBytes, FetchMaxPartitionBytes)...)
	if need := int(e.size.max) + 1<<20; need > kgoBrokerMaxBytes {
		opts = append(opts, kgo.BrokerMaxWriteBytes(int32(min(need, 1<<30+1<<20))))
	}
	return opts
}

// fetchSizeOpts raise the fetch limits of a client whose FetchMaxBytes and
// FetchMaxPartitionBytes are fetchMax and partMax, when the largest record
// does not fit them. (Kafka returns a first record batch larger than these
// limits anyway, but franz-go also bounds what it reads from a broker.)
func (e *Engine) fetchSizeOpts(fetchMax, partMax int) []kgo.Opt {
	var opts []kgo.Opt
	m := int(e.size.max)
	if m > partMax {
		opts = append(opts, kgo.FetchMaxPartitionBytes(int32(m)))
	}
	if m > fetchMax {
		fetchMax = m
		opts = append(opts, kgo.FetchMaxBytes(int32(m)))
	}
	if need := fetchMax + 1<<20; need > kgoBrokerMaxBytes {
		opts = append(opts, kgo.BrokerMaxReadBytes(int32(min(need, 1<<30+1<<20))))
	}
	return opts
}

// tooLargeHint explains a MESSAGE_TOO_LARGE produce error with the limit
// brook read for the topic.
func (e *Engine) tooLargeHint(r *kgo.Record) string {
	return fmt.Sprintf("the record (about %d bytes) is larger than the %d bytes topic %q accepts (max.message.bytes): raise the topic's max.message.bytes",
		batchSize(r), e.size.limit(r.Topic), r.Topic)
}
