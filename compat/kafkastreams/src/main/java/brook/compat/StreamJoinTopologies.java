package brook.compat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.StreamJoined;

/**
 * The windowed stream-stream join topologies, twins of
 * compat/topologies_ssjoin_test.go: streams "left" and "right" joined
 * with JoinWindows and a joiner that concatenates the values with "+"
 * (null prints as "null"). Registered from Topologies' static block.
 */
final class StreamJoinTopologies {
    private StreamJoinTopologies() {}

    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        Topologies.ALL.put(name, new Topologies.Def(build, outputs, List.of(stores)));
    }

    private static String plus(String a, String b) {
        return JoinTopologies.cat(a, "+", b);
    }

    private static JoinWindows diff(long ms, long grace) {
        return JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(ms), Duration.ofMillis(grace));
    }

    static void register() {
        Map<String, String> out = Map.of("out", "string:string");
        // Inner, left and outer joins, 10ms either way, 5ms grace.
        def("ss-join-inner", b -> {
            KStream<String, String> l = b.stream("left");
            KStream<String, String> r = b.stream("right");
            l.join(r, StreamJoinTopologies::plus, diff(10, 5)).to("out");
        }, out);
        def("ss-join-left", b -> {
            KStream<String, String> l = b.stream("left");
            KStream<String, String> r = b.stream("right");
            l.leftJoin(r, StreamJoinTopologies::plus, diff(10, 5)).to("out");
        }, out);
        def("ss-join-outer", b -> {
            KStream<String, String> l = b.stream("left");
            KStream<String, String> r = b.stream("right");
            l.outerJoin(r, StreamJoinTopologies::plus, diff(10, 5)).to("out");
        }, out);
        // Asymmetric windows: a left record at t joins right records in
        // [t-5, t+20]; 50ms grace. Outer, so that both sides close.
        def("ss-join-asym", b -> {
            KStream<String, String> l = b.stream("left");
            KStream<String, String> r = b.stream("right");
            l.outerJoin(r, StreamJoinTopologies::plus, diff(5, 50).after(Duration.ofMillis(20))).to("out");
        }, out);
        // A stream joined with itself, inner and left.
        def("ss-join-self", b -> {
            KStream<String, String> l = b.stream("left");
            l.join(l, StreamJoinTopologies::plus, diff(10, 0)).to("out");
            l.leftJoin(l, StreamJoinTopologies::plus, diff(10, 0)).to("out-left");
        }, Map.of("out", "string:string", "out-left", "string:string"));
        // A re-keyed left stream: repartitioned before the join; nodes and
        // stores named.
        def("ss-join-rekey", b -> {
            KStream<String, String> l = b.stream("left");
            KStream<String, String> r = b.stream("right");
            l.selectKey((k, v) -> v == null ? "_" : Topologies.first(v))
                    .leftJoin(r, StreamJoinTopologies::plus, diff(10, 5),
                            StreamJoined.<String, String, String>as("js").withName("j"))
                    .to("out");
        }, out);
    }
}
