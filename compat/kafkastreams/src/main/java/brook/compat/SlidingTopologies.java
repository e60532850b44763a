package brook.compat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Sliding-window reference topologies (KIP-450), twins of
 * compat/topologies_sliding_test.go. Time difference 10ms, so output keys
 * are of kind "windowed-10" (a sliding window [start, start+10]).
 */
final class SlidingTopologies {
    private SlidingTopologies() {}

    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        Topologies.ALL.put(name, new Topologies.Def(build, outputs, List.of(stores)));
    }

    private static Produced<org.apache.kafka.streams.kstream.Windowed<String>, Long> out() {
        return Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 10), Serdes.Long());
    }

    static void register() {
        // Sliding windows of 10ms, grace 5ms, counted, every update.
        def("window-sliding-count", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(10), Duration.ofMillis(5)))
                    .count(Materialized.as("slcounts"))
                    .toStream()
                    .to("out", out());
        }, Map.of("out", "windowed-10:long"), "window:slcounts");

        // Sliding windows of 10ms, no grace, summed with reduce (values are numbers).
        def("window-sliding-reduce", b -> {
            KStream<String, String> in = b.stream("in");
            in.mapValues(v -> v == null ? null : Long.parseLong(v))
                    .groupByKey(org.apache.kafka.streams.kstream.Grouped.with(Serdes.String(), Serdes.Long()))
                    .windowedBy(SlidingWindows.ofTimeDifferenceWithNoGrace(Duration.ofMillis(10)))
                    .reduce(Long::sum, Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("slsums")
                            .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                    .toStream()
                    .to("out", out());
        }, Map.of("out", "windowed-10:long"), "window:slsums");

        // Sliding windows of 10ms, grace 5ms, final results only.
        def("window-sliding-onclose", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(10), Duration.ofMillis(5)))
                    .emitStrategy(EmitStrategy.onWindowClose())
                    .count(Materialized.as("slccounts"))
                    .toStream()
                    .to("out", out());
        }, Map.of("out", "windowed-10:long"), "window:slccounts");
    }
}
