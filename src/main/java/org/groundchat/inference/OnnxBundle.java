package org.groundchat.inference;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The bundle's ONNX sessions, opened once and checked against the manifest: every file must exist and every
 * model must have the input and output names (and the fixed dimensions) the manifest promises. A mismatch fails
 * at open time with the file and the tensor named, never later in the middle of an answer.
 */
final class OnnxBundle implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(OnnxBundle.class.getName());

    /**
     * Models called once per generated token or region: too small to gain from a thread pool, so they run on the
     * calling thread (which also lets concurrent answers use the cores in parallel).
     */
    private static final java.util.Set<String> PER_TOKEN_ROLES =
            java.util.Set.of("embed_tokens", "decoder", "box_encoder", "box_decoder", "point_head");

    final OrtEnvironment env = OrtEnvironment.getEnvironment();
    final OrtSession vision, embedTokens, decoder, boxEncoder, boxDecoder, maskDecoder, pointHead, proposalHead;
    final boolean cuda;
    /** Single answers' KV buffers, reused from answer to answer (a fresh direct buffer per answer costs GC and page faults). */
    final KvBufferPool kvBuffers = new KvBufferPool();
    private final Map<String, OrtSession> all = new LinkedHashMap<>();

    OnnxBundle(BundleManifest m, EngineOptions options) {
        cuda = options.useCuda() && cudaAvailable(options);
        try {
            vision = open(m, "vision_encoder", options);
            embedTokens = open(m, "embed_tokens", options);
            decoder = open(m, "decoder", options);
            boxEncoder = open(m, "box_encoder", options);
            boxDecoder = open(m, "box_decoder", options);
            maskDecoder = open(m, "mask_decoder", options);
            pointHead = open(m, "point_head", options);
            proposalHead = open(m, "proposal_head", options);
        } catch (OrtException e) {
            close();
            throw new InferenceException("ONNX Runtime could not open the model bundle: " + e.getMessage(), e);
        }
        try {
            validate(m);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private boolean cudaAvailable(EngineOptions options) {
        try (OrtSession.SessionOptions probe = sessionOptions(options, true, options.intraOpThreads())) {
            return true;
        } catch (OrtException | RuntimeException e) {
            LOG.warning("CUDA execution provider unavailable, using CPU: " + e.getMessage());
            return false;
        }
    }

    private OrtSession.SessionOptions sessionOptions(EngineOptions options, boolean withCuda, int intraOpThreads)
            throws OrtException {
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        if (intraOpThreads > 0) so.setIntraOpNumThreads(intraOpThreads);
        // Each session owns its thread pool, and by default idle pool threads spin for a while after a run. With
        // eight sessions called in turn that spinning took the cores from the next model: a grounded answer ran
        // 2.3x slower with 2-thread pools than with none (BENCHMARKS.md). Idle pools now sleep at once.
        so.addConfigEntry("session.intra_op.allow_spinning", "0");
        if (withCuda) so.addCUDA(0);
        return so;
    }

    private OrtSession open(BundleManifest m, String role, EngineOptions options) throws OrtException {
        Path file = m.file(role);
        if (!Files.isRegularFile(file)) {
            throw new InferenceException("Model bundle is incomplete: " + role + " file " + file.toAbsolutePath()
                    + " does not exist");
        }
        int threads = PER_TOKEN_ROLES.contains(role) ? 1 : options.intraOpThreads();
        try (OrtSession.SessionOptions so = sessionOptions(options, cuda, threads)) {
            OrtSession s = env.createSession(file.toString(), so);
            all.put(role, s);
            return s;
        }
    }

    /** Appended when a tensor that contract 2 introduced is missing: most likely a bundle exported for contract 1. */
    private static final String CONTRACT_2_HINT = " (required since bundle contract 2, which adds box_keys and point_keys to the"
            + " vision encoder, box decoder and point head and feature_map to the box encoder; the bundle looks exported"
            + " for an older contract: re-export it with models/training/export.py)";

    private void validate(BundleManifest m) {
        BundleManifest.Dims d = m.dims();
        int s = m.image().size();
        long[] featureMap = {1, d.featureChannels(), d.featureSize(), d.featureSize()};
        long[] locationKeys = {1, d.locationTokens(), 2L * d.hidden()};
        expectInput("vision_encoder", vision, "pixel_values", 1, 3, s, s);
        expectOutput("vision_encoder", vision, "image_embeds", 1, d.imageTokens(), d.hidden());
        expectOutput("vision_encoder", vision, "feature_map", featureMap);
        boolean v2 = m.hasLocationKeys();
        // contract 1: both location heads attend the image tokens themselves
        String boxKeys = v2 ? "box_keys" : "image_embeds", pointKeys = v2 ? "point_keys" : "image_embeds";
        long[] keys = v2 ? locationKeys : new long[] {1, d.imageTokens(), d.hidden()};
        if (v2) {
            expectOutput("vision_encoder", vision, "box_keys", CONTRACT_2_HINT, locationKeys);
            expectOutput("vision_encoder", vision, "point_keys", CONTRACT_2_HINT, locationKeys);
        }
        expectInput("embed_tokens", embedTokens, "input_ids", -1, -1);
        expectOutput("embed_tokens", embedTokens, "inputs_embeds", -1, -1, d.hidden());
        expectInput("decoder", decoder, "inputs_embeds", -1, -1, d.hidden());
        expectInput("decoder", decoder, "attention_mask", -1, -1);
        expectInput("decoder", decoder, "position_ids", -1, -1);
        expectOutput("decoder", decoder, "logits", -1, -1, d.vocab());
        expectOutput("decoder", decoder, "hidden_states", -1, -1, d.hidden());
        for (int i = 0; i < d.layers(); i++) {
            for (String kind : new String[] {"key", "value"}) {
                expectInput("decoder", decoder, "past_key_values." + i + "." + kind, -1, d.heads(), -1, d.headDim());
                expectOutput("decoder", decoder, "present." + i + "." + kind, -1, d.heads(), -1, d.headDim());
            }
        }
        expectInput("box_decoder", boxDecoder, "hidden_state", -1, d.hidden());
        expectInput("box_decoder", boxDecoder, boxKeys, v2 ? CONTRACT_2_HINT : "", keys);
        expectOutput("box_decoder", boxDecoder, "box", -1, 4);
        expectInput("box_encoder", boxEncoder, "box", -1, 4);
        if (v2) expectInput("box_encoder", boxEncoder, "feature_map", CONTRACT_2_HINT, featureMap);
        expectOutput("box_encoder", boxEncoder, "box_embedding", -1, d.hidden());
        expectInput("mask_decoder", maskDecoder, "feature_map", featureMap);
        expectInput("mask_decoder", maskDecoder, "location_embedding", 1, d.hidden());
        expectOutput("mask_decoder", maskDecoder, "mask_logits", 1, d.maskSize(), d.maskSize());
        expectInput("point_head", pointHead, "hidden_state", -1, d.hidden());
        expectInput("point_head", pointHead, pointKeys, v2 ? CONTRACT_2_HINT : "", keys);
        expectOutput("point_head", pointHead, "point", -1, 2);
        expectInput("proposal_head", proposalHead, "feature_map", featureMap);
        expectOutput("proposal_head", proposalHead, "proposal_boxes", 1, -1, 4);
    }

    private static void expectInput(String role, OrtSession s, String name, long... dims) {
        expectInput(role, s, name, "", dims);
    }

    private static void expectOutput(String role, OrtSession s, String name, long... dims) {
        expectOutput(role, s, name, "", dims);
    }

    /** ifMissing: appended to the message when the model has no such tensor. */
    private static void expectInput(String role, OrtSession s, String name, String ifMissing, long... dims) {
        try {
            check(role, "input", name, s.getInputInfo().get(name), ifMissing, dims);
        } catch (OrtException e) {
            throw new InferenceException(role + ": cannot read input info: " + e.getMessage(), e);
        }
    }

    private static void expectOutput(String role, OrtSession s, String name, String ifMissing, long... dims) {
        try {
            check(role, "output", name, s.getOutputInfo().get(name), ifMissing, dims);
        } catch (OrtException e) {
            throw new InferenceException(role + ": cannot read output info: " + e.getMessage(), e);
        }
    }

    /** dims: -1 = any (dynamic) size; other values must match where the model fixes the size. */
    private static void check(String role, String kind, String name, NodeInfo info, String ifMissing, long[] dims) {
        if (info == null) {
            throw new InferenceException("Model bundle mismatch: " + role + " has no " + kind + " named '" + name + "'"
                    + ifMissing);
        }
        if (!(info.getInfo() instanceof TensorInfo t)) {
            throw new InferenceException("Model bundle mismatch: " + role + " " + kind + " '" + name + "' is not a tensor");
        }
        long[] shape = t.getShape();
        if (shape.length != dims.length) {
            throw new InferenceException("Model bundle mismatch: " + role + " " + kind + " '" + name + "' has rank "
                    + shape.length + ", bundle.json implies rank " + dims.length);
        }
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] >= 0 && shape[i] >= 0 && shape[i] != dims[i]) {
                throw new InferenceException("Model bundle mismatch: " + role + " " + kind + " '" + name + "' dimension "
                        + i + " is " + shape[i] + ", bundle.json says " + dims[i]);
            }
        }
    }

    @Override
    public void close() {
        kvBuffers.close();
        for (OrtSession s : all.values()) {
            try {
                s.close();
            } catch (OrtException e) {
                LOG.fine("closing session: " + e.getMessage());
            }
        }
        all.clear();
    }
}
