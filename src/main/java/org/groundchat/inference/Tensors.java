package org.groundchat.inference;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Map;

/** Small helpers around ONNX Runtime tensors: creation from arrays, reading outputs, running one-shot models. */
final class Tensors {
    private Tensors() {}

    static OnnxTensor floats(OrtEnvironment env, float[] data, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(data), shape);
    }

    static OnnxTensor longs(OrtEnvironment env, long[] data, long... shape) throws OrtException {
        return OnnxTensor.createTensor(env, LongBuffer.wrap(data), shape);
    }

    /** An output's floats as ONNX Runtime gives them (a fresh heap buffer): for copying straight into another buffer. */
    static FloatBuffer floatsOf(OrtSession.Result r, String name) throws OrtException {
        OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow(() -> new InferenceException("model output '" + name + "' missing"));
        return t.getFloatBuffer();
    }

    static float[] read(OrtSession.Result r, String name) throws OrtException {
        OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow(() -> new InferenceException("model output '" + name + "' missing"));
        FloatBuffer fb = t.getFloatBuffer();
        // getFloatBuffer already copied the output into a fresh heap buffer: its array is returned, not copied again
        if (fb.hasArray() && fb.arrayOffset() == 0 && fb.position() == 0 && fb.array().length == fb.remaining()) {
            return fb.array();
        }
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }

    /**
     * Runs a model whose inputs are all float tensors and returns the named float outputs, closing everything. An
     * input is a float[] (copied for the call) or a direct FloatBuffer that is read in place and never modified.
     */
    static float[][] run(OrtEnvironment env, OrtSession s, Map<String, ?> inputs, Map<String, long[]> shapes,
                         String... outputs) {
        java.util.Map<String, OnnxTensor> in = new java.util.LinkedHashMap<>();
        try {
            for (var e : inputs.entrySet()) {
                long[] shape = shapes.get(e.getKey());
                in.put(e.getKey(), e.getValue() instanceof FloatBuffer fb ? OnnxTensor.createTensor(env, fb.duplicate(), shape)
                        : floats(env, (float[]) e.getValue(), shape));
            }
            try (OrtSession.Result r = s.run(in)) {
                float[][] out = new float[outputs.length][];
                for (int i = 0; i < outputs.length; i++) out[i] = read(r, outputs[i]);
                return out;
            }
        } catch (OrtException e) {
            throw new InferenceException("ONNX Runtime failed: " + e.getMessage(), e);
        } finally {
            in.values().forEach(OnnxTensor::close);
        }
    }
}
