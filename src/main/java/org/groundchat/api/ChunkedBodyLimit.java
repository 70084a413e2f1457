package org.groundchat.api;

import io.vertx.core.http.HttpHeaders;
import jakarta.inject.Inject;
import jakarta.ws.rs.ext.Provider;
import jakarta.ws.rs.ext.ReaderInterceptor;
import jakarta.ws.rs.ext.ReaderInterceptorContext;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The body limit for request bodies sent without a {@code Content-Length} (chunked), which the router cannot refuse
 * up front ({@link RequestBodyLimit}). Quarkus counts them itself: it stores the limit in the routing context and
 * its input stream, on the byte that crosses it, ends the request with an <em>empty</em> 413 and closes. This reader
 * interceptor counts the bytes a body reader (JSON, text, bytes) takes and throws {@link TooLargeException} once
 * more than the limit was read, so the answer is the API's 413 with a reason. For that to come first,
 * {@link RequestBodyLimit} raises the limit Quarkus enforces on such requests by {@link #BACKSTOP_SLACK} (Vert.x
 * receives a little ahead of what is read): it stays as a backstop for anything that reads a body without a body
 * reader. Multipart uploads are counted by Quarkus' form parser against the same setting; its 413 is answered in
 * the same shape by {@link ApiExceptionMappers}.
 */
@Provider
public class ChunkedBodyLimit implements ReaderInterceptor {
    /** How far Quarkus' own count may run ahead of ours: Vert.x buffers a few chunks (8 KiB each) ahead of reads. */
    static final long BACKSTOP_SLACK = 1024 * 1024;

    @Inject
    RequestBodyLimit limit;

    @Override
    public Object aroundReadFrom(ReaderInterceptorContext context) throws IOException {
        if (context.getHeaders().getFirst(HttpHeaders.CONTENT_LENGTH.toString()) == null) {
            context.setInputStream(new Bounded(context.getInputStream(), limit.maxBytes()));
        }
        return context.proceed();
    }

    /** A body over the limit, found while reading it. */
    public static class TooLargeException extends RuntimeException {
        TooLargeException() { super("request body over the limit", null, false, false); }
    }

    static final class Bounded extends FilterInputStream {
        private final long max;
        private long read;

        Bounded(InputStream in, long max) {
            super(in);
            this.max = max;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count(1);
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count(n);
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long skipped = super.skip(n);
            if (skipped > 0) count(skipped);
            return skipped;
        }

        private void count(long n) {
            read += n;
            if (read > max) throw new TooLargeException();
        }
    }
}
