package org.groundchat.chat.view;

import java.util.List;

/** One page of a listing. */
public record PageJson<T>(List<T> items, int page, int size, long total) {}
