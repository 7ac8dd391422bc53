package dev.plexus.tests;

import static dev.plexus.tests.T.*;

import dev.plexus.Plexus;
import dev.plexus.PlexusException;
import dev.plexus.SharedMap;
import dev.plexus.Watched;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

final class MapTests {
  static final Duration SHORT = Duration.ofMillis(20);

  static void testElementCalls() throws Exception {
    withRegion("map", (r, name) -> {
      SharedMap m = r.map("m", 8);
      eq(8L, m.capacity());
      eq(0L, m.size());
      eq(Plexus.UNDEFINED, m.read("absent"));
      eq(0L, m.version("absent"));
      m.write("a", 1L);
      m.writeEF("b", "two");
      throwsA(PlexusException.Timeout.class, () -> m.writeEF("b", "again", SHORT));
      eq("two", m.readFF("b"));
      eq("two", m.readFE("b", SHORT));
      throwsA(PlexusException.Timeout.class, () -> m.readFE("b", SHORT));
      m.writeXF("c", 3.0);
      m.writeXE("d", true);
      check(m.isFull("c") && !m.isFull("d"), "tags");
      m.setTag("d", true);
      eq(true, m.readFE("d"));
      eq(1L, m.faa("a", 10));
      eq(11L, m.exchange("a", 12L));
      eq(12L, m.cas("a", 12L, 13L));
      eq(13L, m.read("a"));
      m.write("doc", Map.of("hits", 1L));
      eq(Map.of("hits", 2L), m.patch("doc", Map.of("$inc", Map.of("hits", 1L))));
      m.writeXF("rw", "locked");
      eq("locked", m.readRW("rw", SHORT));
      m.releaseRW("rw");
      eq(Set.of("a", "b", "c", "d", "doc", "rw"), new HashSet<>(m.keys()));
      eq(6L, m.size());
      check(m.remove("rw"), "removed");
      check(!m.remove("rw"), "already gone");
      throwsA(PlexusException.InvalidArgument.class, () -> m.write("nul\0key", 1L));
      throwsA(PlexusException.InvalidArgument.class, () -> m.write("x".repeat(5000), 1L));
    });
  }

  static void testFullMap() throws Exception {
    withRegion("fullmap", (r, name) -> {
      SharedMap m = r.map("small", 2);
      m.write("a", 1L);
      m.write("b", 2L);
      throwsA(PlexusException.NoSpace.class, () -> m.write("c", 3L));
      eq(1L, m.read("a"));
      eq(2L, m.read("b"));
    });
  }

  static void testMapView() throws Exception {
    withRegion("view", (r, name) -> {
      SharedMap m = r.map("m", 16);
      Map<String, Object> view = m.asMap();
      check(view.isEmpty(), "empty");
      eq(null, view.put("k", "v"));
      eq("v", view.put("k", "w"));
      eq("w", view.get("k"));
      check(view.containsKey("k") && !view.containsKey("nope"), "containsKey");
      eq(null, view.get("nope"));
      view.putAll(Map.of("x", 1L, "y", List.of(2L)));
      eq(3, view.size());
      Map<String, Object> copy = new HashMap<>(view);
      eq(Map.of("k", "w", "x", 1L, "y", List.of(2L)), copy);
      eq(1L, view.remove("x"));
      eq(null, view.remove("x"));
      view.entrySet().removeIf(e -> e.getKey().equals("y"));
      eq(Map.of("k", "w"), new HashMap<>(view));
      // The view is the region: another handle sees it.
      eq("w", r.map("m", 0).read("k"));
    });
  }

  static void testOpenWithInitial() throws Exception {
    withRegion("openwith", (r, name) -> {
      SharedMap m = r.map("cfg", 10, 0, Map.of("mode", "auto", "limit", 10L));
      eq("auto", m.readFE("mode", SHORT));
      eq(10L, m.read("limit"));
      SharedMap again = r.map("cfg", 10, 0, Map.of("mode", "other"));
      // The map existed: the second initial data is ignored.
      eq("auto", again.read("mode"));
      check(!again.isFull("mode"), "and the map is the same (readFE emptied it)");
      throwsA(PlexusException.NoSpace.class, () -> r.map("tiny", 1, 0, Map.of("a", 1L, "b", 2L)));
    });
  }

  static void testChangesAndWatch() throws Exception {
    withRegion("changes", (r, name) -> {
      SharedMap m = r.map("m", 16);
      long c0 = m.changeCount();
      m.write("a", 1L);
      m.write("b", 2L);
      long c1 = m.waitChanges(c0, Duration.ofSeconds(5));
      check(c1 > c0, "the change count moved");
      List<SharedMap.Change> all = m.changesSince(0);
      eq(2, all.size());
      m.remove("a");
      long c2 = m.changeCount();
      List<SharedMap.Change> since = m.changesSince(c1);
      check(since.stream().anyMatch(ch -> ch.key().equals("a") && ch.removed()), since.toString());
      throwsA(PlexusException.Timeout.class, () -> m.waitChanges(c2, SHORT));
      Watched w = m.watch("b", 0, SHORT);
      eq(2L, w.value());
      throwsA(PlexusException.Timeout.class, () -> m.waitChange("b", w.version(), SHORT));
      m.write("b", 3L);
      eq(3L, m.watch("b", w.version(), SHORT).value());
    });
  }
}
