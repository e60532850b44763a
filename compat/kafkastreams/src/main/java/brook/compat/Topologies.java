package brook.compat;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The reference topologies, each the Kafka Streams twin of a brook topology
 * of the same name in compat/topologies_test.go. Every input topic has
 * String keys and values; outputs and stores are "string" or "long".
 */
final class Topologies {
    /** A topology, its output topics (topic -> "keykind:valuekind") and its stores. */
    record Def(Consumer<StreamsBuilder> build, Map<String, String> outputs, List<String> stores) {}

    static final Map<String, Def> ALL = new TreeMap<>();

    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        ALL.put(name, new Def(build, outputs, List.of(stores)));
    }

    static String first(String s) {
        return s.isEmpty() ? "_" : s.substring(0, 1);
    }

    static List<String> words(String v) {
        if (v == null || v.isBlank()) {
            return List.of();
        }
        return Arrays.asList(v.strip().split("\\s+"));
    }

    static {
        WindowTopologies.register();
        SlidingTopologies.register();
        SuppressTopologies.register();
        SessionTopologies.register();
        // Stateless: filter, map (swap key and value), mapValues.
        def("map-filter", b -> {
            KStream<String, String> in = b.stream("in");
            in.filter((k, v) -> v != null && !v.startsWith("x"))
                    .map((k, v) -> KeyValue.pair(v, k))
                    .mapValues(v -> v == null ? "nokey" : v.toUpperCase())
                    .to("out");
        }, Map.of("out", "string:string"));

        // Stateless: flatMapValues, selectKey, filterNot.
        def("flatmap-selectkey", b -> {
            KStream<String, String> in = b.stream("in");
            in.flatMapValues(Topologies::words)
                    .selectKey((k, v) -> first(v))
                    .filterNot((k, v) -> v.equals("drop"))
                    .to("out");
        }, Map.of("out", "string:string"));

        // split into branches, merge two of them back.
        def("split-merge", b -> {
            KStream<String, String> in = b.stream("in");
            Map<String, KStream<String, String>> br = in.split(Named.as("route-"))
                    .branch((k, v) -> v != null && v.startsWith("a"), Branched.as("a"))
                    .branch((k, v) -> v != null && v.startsWith("b"), Branched.as("b"))
                    .defaultBranch(Branched.as("rest"));
            br.get("route-b").to("out-b");
            br.get("route-a").mapValues(v -> "A:" + v)
                    .merge(br.get("route-rest").mapValues(v -> "R:" + v))
                    .to("out");
        }, Map.of("out", "string:string", "out-b", "string:string"));

        // Count per input key: no repartition.
        def("count-by-key", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey().count(Materialized.as("counts"))
                    .toStream().to("out", Produced.with(Serdes.String(), Serdes.Long()));
        }, Map.of("out", "string:long"), "counts");

        // The word count: flatMapValues, groupBy (repartition), count.
        def("word-count", b -> {
            KStream<String, String> in = b.stream("in");
            in.flatMapValues(Topologies::words)
                    .groupBy((k, w) -> w)
                    .count(Materialized.as("word-counts"))
                    .toStream().to("out", Produced.with(Serdes.String(), Serdes.Long()));
        }, Map.of("out", "string:long"), "word-counts");

        // selectKey then groupByKey: a repartition after a key change.
        def("selectkey-count", b -> {
            KStream<String, String> in = b.stream("in");
            in.selectKey((k, v) -> v)
                    .groupByKey()
                    .count(Materialized.as("counts"))
                    .toStream().to("out", Produced.with(Serdes.String(), Serdes.Long()));
        }, Map.of("out", "string:long"), "counts");

        // reduce: values joined with "|" per key.
        def("reduce-concat", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey().reduce((a, v) -> a + "|" + v, Materialized.as("reduced"))
                    .toStream().to("out");
        }, Map.of("out", "string:string"), "reduced");

        // aggregate: the total length of the values per key.
        def("aggregate-len", b -> {
            KStream<String, String> in = b.stream("in");
            in.groupByKey().aggregate(() -> 0L, (k, v, a) -> a + v.length(),
                            Materialized.<String, Long, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("lens")
                                    .withValueSerde(Serdes.Long()))
                    .toStream().to("out", Produced.with(Serdes.String(), Serdes.Long()));
        }, Map.of("out", "string:long"), "lens");

        // A table read from a topic, and its changes as a stream.
        def("table-source", b -> {
            KTable<String, String> t = b.table("in", Materialized.as("tbl"));
            t.toStream().to("out");
        }, Map.of("out", "string:string"), "tbl");

        // Table filter and mapValues (not materialized).
        def("table-filter-map", b -> {
            KTable<String, String> t = b.table("in", Materialized.as("tbl"));
            t.filter((k, v) -> v.length() > 2)
                    .mapValues(v -> v.toUpperCase())
                    .toStream().to("out");
        }, Map.of("out", "string:string"), "tbl");

        // Table re-aggregation: count of rows per value.
        def("table-groupby-count", b -> {
            KTable<String, String> t = b.table("in", Materialized.as("tbl"));
            t.groupBy((k, v) -> KeyValue.pair(v, k))
                    .count(Materialized.as("by-value"))
                    .toStream().to("out", Produced.with(Serdes.String(), Serdes.Long()));
        }, Map.of("out", "string:long"), "tbl", "by-value");

        // One source, three named branches added out of name order: how
        // describe() orders nodes and lists successors.
        def("named-fanout", b -> {
            KStream<String, String> in = b.stream("in");
            in.filter((k, v) -> v != null && v.length() > 3, Named.as("zz")).to("o1");
            in.filter((k, v) -> true, Named.as("aa")).filter((k, v) -> k != null, Named.as("bb")).to("o2");
            in.filterNot((k, v) -> v == null, Named.as("mm")).to("o3");
        }, Map.of("o1", "string:string", "o2", "string:string", "o3", "string:string"));

        // Table re-aggregation with an adder and a subtractor: total length
        // of the rows per first letter of the value.
        def("table-groupby-aggregate", b -> {
            KTable<String, String> t = b.table("in", Materialized.as("tbl"));
            t.groupBy((k, v) -> KeyValue.pair(first(v), v))
                    .aggregate(() -> 0L, (k, v, a) -> a + v.length(), (k, v, a) -> a - v.length(),
                            Materialized.<String, Long, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("lens")
                                    .withValueSerde(Serdes.Long()))
                    .toStream().to("out", Produced.with(Serdes.String(), Serdes.Long()));
        }, Map.of("out", "string:long"), "tbl", "lens");

        JoinTopologies.register();
        FkJoinTopologies.register();
        StreamJoinTopologies.register();
    }

    private Topologies() {}
}
