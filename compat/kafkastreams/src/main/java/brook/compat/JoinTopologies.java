package brook.compat;

import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;

/**
 * The join topologies, each the Kafka Streams twin of a brook topology of
 * the same name in compat/topologies_joins_test.go. Registered into
 * Topologies.ALL from its static block.
 */
final class JoinTopologies {
    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        Topologies.ALL.put(name, new Topologies.Def(build, outputs, List.of(stores)));
    }

    static String cat(String a, String sep, String b) {
        return a + sep + b;
    }

    static void register() {
        // Stream-table join, inner and left, on the same stream and table.
        def("stream-table-join", b -> {
            KStream<String, String> in = b.stream("in");
            KTable<String, String> tab = b.table("tab", Materialized.as("tab-store"));
            in.join(tab, (v, tv) -> cat(v, "/", tv)).to("out");
            in.leftJoin(tab, (v, tv) -> cat(v, "/", tv)).to("out-left");
        }, Map.of("out", "string:string", "out-left", "string:string"));

        // A stream re-keyed before a stream-table join: repartitioned.
        def("stream-table-rekey", b -> {
            KStream<String, String> in = b.stream("in");
            KTable<String, String> tab = b.table("tab", Materialized.as("tab-store"));
            in.filter((k, v) -> true)
                    .selectKey((k, v) -> v == null ? "_" : first(v))
                    .leftJoin(tab, (v, tv) -> cat(v, "/", tv))
                    .to("out");
        }, Map.of("out", "string:string"));

        // A stream joined with a filtered and mapped table, which is read
        // through the source table's store.
        def("stream-table-filtered", b -> {
            KStream<String, String> in = b.stream("in");
            KTable<String, String> tab = b.<String, String>table("tab", Materialized.as("tab-store"))
                    .filter((k, v) -> !v.startsWith("x"))
                    .mapValues(v -> v.toUpperCase());
            in.join(tab, (v, tv) -> cat(v, "/", tv)).to("out");
        }, Map.of("out", "string:string"));

        // Table-table joins: inner (materialized), left (not), outer
        // (materialized).
        def("table-table-join", b -> {
            KTable<String, String> ta = b.table("ta", Materialized.as("ta-store"));
            KTable<String, String> tb = b.table("tb", Materialized.as("tb-store"));
            ta.join(tb, (x, y) -> cat(x, "+", y), Materialized.as("inner-store")).toStream().to("out-inner");
            ta.leftJoin(tb, (x, y) -> cat(x, "+", y)).toStream().to("out-left");
            ta.outerJoin(tb, (x, y) -> cat(x, "+", y), Materialized.as("outer-store")).toStream().to("out-outer");
        }, Map.of("out-inner", "string:string", "out-left", "string:string", "out-outer", "string:string"),
                "inner-store", "outer-store");

        // A table-table join result joined again with a third table, and
        // mapped: the un-materialized join is read by key.
        def("table-table-chain", b -> {
            KTable<String, String> ta = b.table("ta", Materialized.as("ta-store"));
            KTable<String, String> tb = b.table("tb", Materialized.as("tb-store"));
            KTable<String, String> tc = b.table("tc", Materialized.as("tc-store"));
            KTable<String, String> ab = ta.leftJoin(tb, (x, y) -> cat(x, "+", y));
            ab.join(tc, (x, y) -> cat(x, "*", y)).mapValues(v -> v.toUpperCase()).toStream().to("out");
        }, Map.of("out", "string:string"));

        // Stream-global joins, inner and left, by a key computed from the
        // record's value.
        def("stream-global-join", b -> {
            KStream<String, String> in = b.stream("in");
            GlobalKTable<String, String> g = b.globalTable("glob", Materialized.as("glob-store"));
            in.join(g, (k, v) -> v, (v, gv) -> cat(v, "/", gv)).to("out");
            in.leftJoin(g, (k, v) -> v, (v, gv) -> cat(v, "/", gv)).to("out-left");
        }, Map.of("out", "string:string", "out-left", "string:string"));
    }

    static String first(String s) {
        return Topologies.first(s);
    }

    private JoinTopologies() {}
}
