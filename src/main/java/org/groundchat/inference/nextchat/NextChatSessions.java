package org.groundchat.inference.nextchat;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;
import org.groundchat.inference.EngineOptions;
import org.groundchat.inference.InferenceException;

/**
 * The ONNX Runtime sessions of a contract-3 bundle and the small calls on them. The mask encoder (SAM's ViT, the
 * most expensive graph) and mask decoder are optional: a bundle without masks has no files for them.
 *
 * <p>Why its own tensor helpers: {@code org.groundchat.inference.Tensors} is package-private.
 */
final class NextChatSessions implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NextChatSessions.class.getName());

    final OrtEnvironment env = OrtEnvironment.getEnvironment();
    final OrtSession vision, embedTokens, decoder, boxEncoder, boxDecoder, maskEncoder, maskDecoder;
    final boolean cuda;
    private final List<OrtSession> all = new ArrayList<>();

    NextChatSessions(NextChatManifest m, EngineOptions options) {
        cuda = options.useCuda() && cudaAvailable(options.intraOpThreads());
        try {
            int image = options.intraOpThreads();
            // per-token graphs run one small step at a time: a thread pool only adds wake-up latency
            vision = open(m.file("vision_encoder"), image);
            embedTokens = open(m.file("embed_tokens"), 1);
            decoder = open(m.file("decoder"), 1);
            boxEncoder = open(m.file("box_encoder"), 1);
            boxDecoder = open(m.file("box_decoder"), 1);
            maskEncoder = m.masks() ? open(m.file("mask_encoder"), image) : null;
            maskDecoder = m.masks() ? open(m.file("mask_decoder"), image) : null;
        } catch (OrtException | RuntimeException e) {
            close();
            if (e instanceof InferenceException ie) throw ie;
            throw new InferenceException("ONNX Runtime could not open the model bundle: " + e.getMessage(), e);
        }
    }

    private boolean cudaAvailable(int threads) {
        try (OrtSession.SessionOptions probe = sessionOptions(true, threads)) {
            return true;
        } catch (OrtException | RuntimeException e) {
            LOG.warning("CUDA execution provider unavailable, using CPU: " + e.getMessage());
            return false;
        }
    }

    private OrtSession.SessionOptions sessionOptions(boolean withCuda, int threads) throws OrtException {
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (threads > 0) so.setIntraOpNumThreads(threads);
        // idle pools sleep at once, so seven sessions called in turn do not spin on each other's cores
        so.addConfigEntry("session.intra_op.allow_spinning", "0");
        if (withCuda) so.addCUDA(0);
        return so;
    }

    private OrtSession open(Path file, int threads) throws OrtException {
        if (file == null) throw new InferenceException("Model bundle lacks a required file");
        try (OrtSession.SessionOptions so = sessionOptions(cuda, threads)) {
            OrtSession s = env.createSession(file.toString(), so);
            all.add(s);
            return s;
        }
    }

    OnnxTensor floats(float[] data, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
    }

    OnnxTensor longs(long[] data, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, LongBuffer.wrap(data), shape);
    }

    static float[] read(OnnxValue v) {
        FloatBuffer b = ((OnnxTensor) v).getFloatBuffer();
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }

    /** Runs a graph on float inputs and returns its outputs by position; the input tensors are closed after. */
    float[][] run(OrtSession s, Map<String, OnnxTensor> inputs) throws OrtException {
        try (OrtSession.Result r = s.run(inputs)) {
            float[][] out = new float[r.size()][];
            for (int i = 0; i < r.size(); i++) out[i] = read(r.get(i));
            return out;
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    /** Runs a graph and returns its outputs by name; the input tensors are closed after. */
    Map<String, float[]> runNamed(OrtSession s, Map<String, OnnxTensor> inputs) throws OrtException {
        try (OrtSession.Result r = s.run(inputs)) {
            Map<String, float[]> out = new java.util.LinkedHashMap<>();
            for (Map.Entry<String, OnnxValue> e : r) out.put(e.getKey(), read(e.getValue()));
            return out;
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    /** embed_tokens on a run of ids: [n, hidden] flattened. */
    float[] embed(long[] ids) throws OrtException {
        return run(embedTokens, Map.of("input_ids", longs(ids, 1, ids.length)))[0];
    }

    /** box_encoder on n boxes [n, 4]: [n, hidden] flattened. */
    float[] encodeBoxes(float[] boxes) throws OrtException {
        return run(boxEncoder, Map.of("box", floats(boxes, boxes.length / 4, 4)))[0];
    }

    @Override
    public void close() {
        for (OrtSession s : all) {
            try {
                s.close();
            } catch (OrtException e) {
                LOG.warning("closing a session failed: " + e.getMessage());
            }
        }
        all.clear();
    }
}
