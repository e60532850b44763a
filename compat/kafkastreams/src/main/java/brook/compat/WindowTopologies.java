package brook.compat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;

/**
 * Windowed reference topologies, twins of compat/topologies_windows_test.go.
 * Output keys of kind "windowed-SIZE" are read with TimeWindowedDeserializer
 * of that window size; stores named "window:NAME" are window stores.
 */
final class WindowTopologies {
    private WindowTopologies() {}

    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        Topologies.ALL.put(name, new Topologies.Def(build, outputs, List.of(stores)));
    }

    private static Produced<org.apache.kafka.streams.kstream.Windowed<String>, Long> windowedOut(long size) {
        return Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, size), Serdes.Long());
    }

    static void register() {
        // Session windows, gap 5ms, grace 2ms: merges, late records.
        def("window-session-count", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(5), Duration.ofMillis(2)))
                    .count(Materialized.as("scounts"))
                    .toStream()
                    .to("out", Produced.with(WindowedSerdes.sessionWindowedSerdeFrom(String.class), Serdes.Long()));
        }, Map.of("out", "session:long"));

        // Tumbling windows of 10ms with 5ms grace, counted, every update.
        def("window-tumbling-count", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(10), Duration.ofMillis(5)))
                    .count(Materialized.as("wcounts"))
                    .toStream()
                    .to("out", windowedOut(10));
        }, Map.of("out", "windowed-10:long"), "window:wcounts");

        // Hopping windows of 10ms every 5ms, 2ms grace.
        def("window-hopping-count", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(10), Duration.ofMillis(2)).advanceBy(Duration.ofMillis(5)))
                    .count(Materialized.as("hcounts"))
                    .toStream()
                    .to("out", windowedOut(10));
        }, Map.of("out", "windowed-10:long"), "window:hcounts");

        // Final results only, with suppress(untilWindowCloses).
        def("window-tumbling-suppress", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(10), Duration.ofMillis(5)))
                    .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("fcounts")
                            .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                    .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                    .toStream()
                    .to("out", windowedOut(10));
        }, Map.of("out", "windowed-10:long"), "window:fcounts");

        // Final results only, with EmitStrategy.onWindowClose.
        def("window-tumbling-onclose", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(10), Duration.ofMillis(5)))
                    .emitStrategy(EmitStrategy.onWindowClose())
                    .count(Materialized.as("ccounts"))
                    .toStream()
                    .to("out", windowedOut(10));
        }, Map.of("out", "windowed-10:long"), "window:ccounts");
    }
}
