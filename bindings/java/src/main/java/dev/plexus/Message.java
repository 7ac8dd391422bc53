package dev.plexus;

/**
 * A message received from a {@link Bus}: its sequence number (a gap above the previous
 * one means messages were overwritten while the subscriber was behind, or belonged to
 * other topics), its topic (null for a message published without one, and for a
 * subscription to every message) and its value.
 */
public record Message(long seq, String topic, Object value) {}
