package brook.compat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A differential test case: a header of "name: value" lines (topology,
 * partitions, divergent), a line "----", then one input record per line:
 * TOPIC KEY VALUE TIMESTAMP. A token is a bare word, a double-quoted string
 * (escapes \" and \\), or &lt;null&gt;.
 */
final class CaseFile {
    record Input(String topic, String key, String value, long ts) {}

    final Path path;
    String topology;
    final List<Input> inputs = new ArrayList<>();

    private CaseFile(Path path) {
        this.path = path;
    }

    static CaseFile parse(Path p) throws IOException {
        CaseFile c = new CaseFile(p);
        boolean body = false;
        int n = 0;
        for (String line : Files.readAllLines(p)) {
            n++;
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            if (!body) {
                if (l.equals("----")) {
                    body = true;
                    continue;
                }
                int i = l.indexOf(':');
                if (i < 0) {
                    throw new IOException(p + ":" + n + ": want name: value");
                }
                if (l.substring(0, i).strip().equals("topology")) {
                    c.topology = l.substring(i + 1).strip();
                }
                continue;
            }
            List<String> t = tokens(l, p + ":" + n);
            if (t.size() != 4) {
                throw new IOException(p + ":" + n + ": want TOPIC KEY VALUE TIMESTAMP");
            }
            c.inputs.add(new Input(t.get(0), t.get(1), t.get(2), Long.parseLong(t.get(3))));
        }
        if (c.topology == null) {
            throw new IOException(p + ": no topology");
        }
        return c;
    }

    static List<String> tokens(String l, String where) throws IOException {
        List<String> out = new ArrayList<>();
        int i = 0;
        while (i < l.length()) {
            char ch = l.charAt(i);
            if (ch == ' ' || ch == '\t') {
                i++;
                continue;
            }
            if (ch == '"') {
                StringBuilder sb = new StringBuilder();
                i++;
                while (true) {
                    if (i >= l.length()) {
                        throw new IOException(where + ": unterminated quote");
                    }
                    char c = l.charAt(i++);
                    if (c == '"') {
                        break;
                    }
                    if (c == '\\' && i < l.length()) {
                        c = l.charAt(i++);
                    }
                    sb.append(c);
                }
                out.add(sb.toString());
                continue;
            }
            int j = i;
            while (j < l.length() && l.charAt(j) != ' ' && l.charAt(j) != '\t') {
                j++;
            }
            String w = l.substring(i, j);
            out.add(w.equals("<null>") ? null : w);
            i = j;
        }
        return out;
    }

    /** quote prints a key or value as a token: &lt;null&gt;, or always quoted. */
    static String quote(Object o) {
        if (o == null) {
            return "<null>";
        }
        String s = o.toString();
        if (o instanceof Long) {
            return s;
        }
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
}
