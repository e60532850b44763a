package brook.compat;

import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;

import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.TableJoined;

/**
 * The foreign-key join topologies (KIP-213), each the Kafka Streams twin of
 * a brook topology of the same name in compat/topologies_fkjoin_test.go.
 * Registered into Topologies.ALL from its static block.
 */
final class FkJoinTopologies {
    private static void def(String name, Consumer<StreamsBuilder> build, Map<String, String> outputs, String... stores) {
        Topologies.ALL.put(name, new Topologies.Def(build, outputs, List.of(stores)));
    }

    /**
     * The foreign key of an order: its value up to the first ':' (the whole
     * value without one); null when the value starts with '-'.
     */
    static String fk(String v) {
        if (v.startsWith("-")) {
            return null;
        }
        int i = v.indexOf(':');
        return i < 0 ? v : v.substring(0, i);
    }

    static void register() {
        // Inner and left foreign-key joins of one table with another,
        // results materialized, automatic names.
        def("fk-join", b -> {
            KTable<String, String> orders = b.table("orders", Materialized.as("orders-store"));
            KTable<String, String> customers = b.table("customers", Materialized.as("customers-store"));
            Function<String, String> key = FkJoinTopologies::fk;
            orders.join(customers, key, (v, c) -> JoinTopologies.cat(v, "/", c), Materialized.as("fk-inner-store"))
                    .toStream().to("out-inner");
            orders.leftJoin(customers, key, (v, c) -> JoinTopologies.cat(v, "/", c), Materialized.as("fk-left-store"))
                    .toStream().to("out-left");
        }, Map.of("out-inner", "string:string", "out-left", "string:string"), "fk-inner-store", "fk-left-store");

        // A named inner join (TableJoined.as): the names of its nodes,
        // stores and internal topics derive from the name.
        def("fk-join-named", b -> {
            KTable<String, String> orders = b.table("orders", Materialized.as("orders-store"));
            KTable<String, String> customers = b.table("customers", Materialized.as("customers-store"));
            Function<String, String> key = FkJoinTopologies::fk;
            orders.join(customers, key, (v, c) -> JoinTopologies.cat(v, "/", c), TableJoined.as("by-customer"),
                    Materialized.as("by-customer-store"))
                    .toStream().to("out");
        }, Map.of("out", "string:string"), "by-customer-store");
        registerDefault();
    }

    /**
     * Registered from register(): an inner join with automatic names and
     * no Materialized, with a filtered right table (read through the
     * filter's getter).
     */
    static void registerDefault() {
        def("fk-join-default", b -> {
            KTable<String, String> orders = b.table("orders", Materialized.as("orders-store"));
            KTable<String, String> customers = b.<String, String>table("customers", Materialized.as("customers-store"))
                    .filter((k, v) -> !v.startsWith("x"));
            Function<String, String> key = FkJoinTopologies::fk;
            orders.join(customers, key, (v, c) -> JoinTopologies.cat(v, "/", c)).toStream().to("out");
        }, Map.of("out", "string:string"));
    }

    private FkJoinTopologies() {}
}
