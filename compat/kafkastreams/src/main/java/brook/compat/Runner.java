package brook.compat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Stream;

import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.kstream.SessionWindowedDeserializer;
import org.apache.kafka.streams.kstream.TimeWindowedDeserializer;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.test.TestRecord;

/**
 * Runs every case file of a directory through Kafka Streams'
 * TopologyTestDriver and writes what came out, in the canonical text form
 * that brook's Go side prints too (see compat/README.md).
 *
 * <p>Usage: Runner CASES_DIR OUT_DIR
 */
public final class Runner {
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: Runner CASES_DIR OUT_DIR");
            System.exit(2);
        }
        // A state directory of this run's own: TopologyTestDriver keeps
        // RocksDB stores there, locked, and two runs must not share them.
        stateDir = Files.createTempDirectory("brook-compat-");
        Path cases = Path.of(args[0]);
        Path out = Path.of(args[1]);
        Files.createDirectories(out.resolve("describe"));
        for (Map.Entry<String, Topologies.Def> e : Topologies.ALL.entrySet()) {
            StreamsBuilder b = new StreamsBuilder();
            e.getValue().build().accept(b);
            write(out.resolve("describe").resolve(e.getKey() + ".txt"), b.build().describe().toString());
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(cases)) {
            files = s.filter(p -> p.toString().endsWith(".case")).sorted().toList();
        }
        for (Path f : files) {
            CaseFile c = CaseFile.parse(f);
            String name = f.getFileName().toString().replaceFirst("\\.case$", "");
            write(out.resolve(name + ".out"), run(c));
        }
        System.out.println("kafka streams ran " + files.size() + " cases");
        try (Stream<Path> walk = Files.walk(stateDir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    static Path stateDir;

    static void write(Path p, String s) throws IOException {
        Files.writeString(p, s, StandardCharsets.UTF_8);
    }

    static String run(CaseFile c) {
        Topologies.Def def = Topologies.ALL.get(c.topology);
        if (def == null) {
            throw new IllegalArgumentException(c.path + ": unknown topology " + c.topology);
        }
        StreamsBuilder b = new StreamsBuilder();
        def.build().accept(b);
        Topology t = b.build();
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "compat");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // Left and outer stream-stream joins look for closed windows on
        // every record, as brook does, not once a wall-clock second.
        p.put(StreamsConfig.InternalConfig.EMIT_INTERVAL_MS_KSTREAMS_OUTER_JOIN_SPURIOUS_RESULTS_FIX, 0L);
        StringBuilder sb = new StringBuilder();
        try (TopologyTestDriver d = new TopologyTestDriver(t, p, Instant.EPOCH)) {
            Map<String, TestInputTopic<String, String>> inputs = new TreeMap<>();
            Map<String, TestOutputTopic<Object, Object>> outputs = new TreeMap<>();
            for (Map.Entry<String, String> o : def.outputs().entrySet()) {
                String[] kinds = o.getValue().split(":");
                outputs.put(o.getKey(), d.createOutputTopic(o.getKey(), deser(kinds[0]), deser(kinds[1])));
            }
            for (CaseFile.Input in : c.inputs) {
                TestInputTopic<String, String> topic = inputs.computeIfAbsent(in.topic(),
                        n -> d.createInputTopic(n, new StringSerializer(), new StringSerializer()));
                topic.pipeInput(new TestRecord<>(in.key(), in.value(), null, Instant.ofEpochMilli(in.ts())));
            }
            for (Map.Entry<String, TestOutputTopic<Object, Object>> o : outputs.entrySet()) {
                for (TestRecord<Object, Object> r : o.getValue().readRecordsToList()) {
                    sb.append("out ").append(o.getKey()).append(' ')
                            .append(CaseFile.quote(windowed(r.key()))).append(' ')
                            .append(CaseFile.quote(r.value())).append(" @")
                            .append(r.timestamp()).append('\n');
                }
            }
            List<String> lines = new ArrayList<>();
            for (String store : def.stores()) {
                if (store.startsWith("window:")) {
                    String name = store.substring("window:".length());
                    WindowStore<Object, Object> ws = d.getWindowStore(name);
                    try (KeyValueIterator<Windowed<Object>, Object> it = ws.all()) {
                        while (it.hasNext()) {
                            KeyValue<Windowed<Object>, Object> kv = it.next();
                            lines.add("store " + name + " " + CaseFile.quote(windowed(kv.key)) + " " + CaseFile.quote(kv.value));
                        }
                    }
                    continue;
                }
                KeyValueStore<Object, Object> s = d.getKeyValueStore(store);
                try (KeyValueIterator<Object, Object> it = s.all()) {
                    while (it.hasNext()) {
                        KeyValue<Object, Object> kv = it.next();
                        lines.add("store " + store + " " + CaseFile.quote(kv.key) + " " + CaseFile.quote(kv.value));
                    }
                }
            }
            // All stores' lines in one sort, as the Go side does (byte order
            // and UTF-16 order agree on the ASCII the cases use).
            lines.sort(null);
            for (String l : lines) {
                sb.append(l).append('\n');
            }
        }
        return sb.toString();
    }

    /** A windowed key prints as "key@[start,end)"; other keys as they are. */
    static Object windowed(Object key) {
        if (key instanceof Windowed<?> w) {
            return w.key() + "@[" + w.window().start() + "," + w.window().end() + ")";
        }
        return key;
    }

    @SuppressWarnings("unchecked")
    static Deserializer<Object> deser(String kind) {
        if (kind.equals("session")) {
            return (Deserializer<Object>) (Deserializer<?>) new SessionWindowedDeserializer<>(new StringDeserializer());
        }
        if (kind.startsWith("windowed-")) {
            long size = Long.parseLong(kind.substring("windowed-".length()));
            return (Deserializer<Object>) (Deserializer<?>) new TimeWindowedDeserializer<>(new StringDeserializer(), size);
        }
        return switch (kind) {
            case "string" -> (Deserializer<Object>) (Deserializer<?>) new StringDeserializer();
            case "long" -> (Deserializer<Object>) (Deserializer<?>) new LongDeserializer();
            default -> throw new IllegalArgumentException("unknown kind " + kind);
        };
    }
}
