package brook.compat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;

/**
 * suppress(untilTimeLimit) reference topologies, twins of
 * compat/topologies_suppress_test.go.
 */
final class SuppressTopologies {
    private SuppressTopologies() {}

    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        Topologies.ALL.put(name, new Topologies.Def(build, outputs, List.of(stores)));
    }

    static void register() {
        // Counts per key, at most one update per key per 10ms of stream
        // time, a buffer of at most 2 keys that emits early when full.
        def("suppress-time-limit", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .count(Materialized.as("scounts"))
                    .suppress(Suppressed.untilTimeLimit(Duration.ofMillis(10), Suppressed.BufferConfig.maxRecords(2).emitEarlyWhenFull()))
                    .toStream()
                    .to("out", Produced.with(Serdes.String(), Serdes.Long()));
        }, Map.of("out", "string:long"), "scounts");

        // A table's updates and deletes, at most one per key per 5ms, no
        // bound that the case reaches.
        def("suppress-table", b -> {
            b.<String, String>table("in", Materialized.as("stbl"))
                    .suppress(Suppressed.untilTimeLimit(Duration.ofMillis(5), Suppressed.BufferConfig.maxBytes(1 << 20)))
                    .toStream()
                    .to("out");
        }, Map.of("out", "string:string"));
    }
}
