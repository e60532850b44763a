package brook.compat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams side of brook's side-by-side benchmark
 * (compat/sidebyside_test.go): one workload on a real broker until SIGTERM.
 *
 * <p>Usage: Bench BROKERS WORKLOAD(stateless|count) GUARANTEE(eos|alos)
 * COMMIT_MS APP_ID INPUT OUTPUT STATE_DIR
 *
 * <p>stateless: mapValues(upper-case) then filter (drop values whose amount
 * ends in 0), the same work as brook's benchmark; count: groupByKey().count()
 * with every update written out (record cache off). One stream thread, as
 * brook's default one worker.
 */
public final class Bench {
    static boolean keep(String v) {
        return v.length() < 2 || v.charAt(v.length() - 2) != '0';
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 8) {
            System.err.println("usage: Bench BROKERS stateless|count eos|alos COMMIT_MS APP_ID INPUT OUTPUT STATE_DIR");
            System.exit(2);
        }
        String workload = args[1];
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> in = b.stream(args[5]);
        switch (workload) {
            case "stateless" -> in.mapValues(v -> v.toUpperCase()).filter((k, v) -> keep(v)).to(args[6]);
            case "count" -> in.groupByKey().count(Materialized.as("counts"))
                    .toStream().to(args[6], Produced.with(Serdes.String(), Serdes.Long()));
            default -> throw new IllegalArgumentException("unknown workload " + workload);
        }
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, args[4]);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                args[2].equals("eos") ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Integer.parseInt(args[3]));
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.STATE_DIR_CONFIG, args[7]);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        Files.createDirectories(Path.of(args[7]));
        KafkaStreams ks = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            ks.close();
            done.countDown();
        }));
        ks.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_APPLICATION;
        });
        ks.start();
        done.await();
    }
}
