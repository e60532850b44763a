package brook.compat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;

/**
 * Session-window reference topologies with emit on close, twins of
 * compat/topologies_session_test.go.
 */
final class SessionTopologies {
    private SessionTopologies() {}

    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        Topologies.ALL.put(name, new Topologies.Def(build, outputs, List.of(stores)));
    }

    static void register() {
        // Session windows, gap 5ms, grace 2ms, final results only.
        def("window-session-onclose", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey()
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(5), Duration.ofMillis(2)))
                    .emitStrategy(EmitStrategy.onWindowClose())
                    .count(Materialized.as("socounts"))
                    .toStream()
                    .to("out", Produced.with(WindowedSerdes.sessionWindowedSerdeFrom(String.class), Serdes.Long()));
        }, Map.of("out", "session:long"));
    }
}
