package org.groundchat.inference.nextchat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The importer end to end, as a user runs it: a NExT-Chat checkpoint fabricated in the published layout (as
 * {@code pytorch_model-*.bin} shards and as safetensors shards) is imported by {@code models/import}'s scripts in this
 * run, and the Java engine answers on the imported bundle exactly as the plain-PyTorch reference of the same
 * checkpoint does; the int8 and int4 imports equal the reference with the same quantized weights, and their
 * difference to float is measured.
 *
 * <p>Needs {@code /usr/bin/python3} with torch and onnx (Debian's python3-torch, python3-onnx). Without them the
 * test is skipped, unless GROUNDCHAT_REQUIRE_IMPORTER is set (CI sets it), where it fails.
 */
class ImportedCheckpointTest {
    private static final Path IMPORTER = Path.of("models", "import");
    private static final String PYTHON = "/usr/bin/python3";

    @TempDir
    static Path work;

    @BeforeAll
    static void needsTorch() throws Exception {
        boolean ready = Files.isExecutable(Path.of(PYTHON))
                && python(List.of("-c", "import torch, onnx"), 120).exitCode == 0;
        if (!ready && System.getenv("GROUNDCHAT_REQUIRE_IMPORTER") != null) {
            fail("GROUNDCHAT_REQUIRE_IMPORTER is set but " + PYTHON + " cannot import torch and onnx");
        }
        Assumptions.assumeTrue(ready, "needs " + PYTHON + " with torch and onnx");
    }

    @Test
    void binShardsImportAndAnswerAsTheReference() throws Exception {
        assertImportAnswersAsReference("bin", null);
    }

    @Test
    void safetensorsShardsImportAndAnswerAsTheReference() throws Exception {
        assertImportAnswersAsReference("safetensors", null);
    }

    @Test
    void quantizedImportsAnswerAsTheirReferenceAndCloseToFloat() throws Exception {
        ReferenceParity floats = assertImportAnswersAsReference("safetensors", null);
        for (String q : List.of("int8", "int4")) {
            ReferenceParity quantized = assertImportAnswersAsReference("safetensors", q);
            // MatMulNBits really replaced the float MatMuls: the decoder graph is smaller than the float one
            long floatBytes = Files.size(floats.bundle().resolve("decoder.onnx"));
            long quantBytes = Files.size(quantized.bundle().resolve("decoder.onnx"));
            assertTrue(quantBytes < floatBytes, q + " decoder " + quantBytes + " bytes vs float " + floatBytes);
            assertTrue(Files.readString(quantized.bundle().resolve("decoder.onnx"), StandardCharsets.ISO_8859_1)
                    .contains("MatMulNBits"), q + ": no MatMulNBits in the decoder");
            // against float: greedy tokens kept before the first difference (random tiny weights have logit gaps
            // of 0.003-0.06, so this measures how quantization moves near ties, not a real model's quality)
            int kept = 0, total = 0, firstTokensEqual = 0;
            JsonNode fc = floats.fixture().get("cases"), qc = quantized.fixture().get("cases");
            for (int i = 0; i < fc.size(); i++) {
                List<Integer> f = ReferenceParity.answerTokens(fc.get(i)), g = ReferenceParity.answerTokens(qc.get(i));
                int n = 0;
                while (n < Math.min(f.size(), g.size()) && f.get(n).equals(g.get(n))) n++;
                kept += n;
                total += f.size();
                if (n > 0) firstTokensEqual++;
            }
            System.out.printf("%s vs float: %d of %d answer tokens before the first difference, first token equal"
                    + " in %d of %d answers%n", q, kept, total, firstTokensEqual, fc.size());
            assertEquals(fc.size(), qc.size());
            assertTrue(firstTokensEqual > 0, q + ": no answer starts as float's");
        }
    }

    /** Fabricates (once per format), imports and writes the reference fixture, then checks the engine against it. */
    private static ReferenceParity assertImportAnswersAsReference(String format, String quantize) throws Exception {
        Path checkpoint = work.resolve("checkpoint-" + format);
        if (!Files.exists(checkpoint)) {
            run(List.of(IMPORTER.resolve("fabricate_nextchat.py").toString(), "--out", checkpoint.toString(),
                    "--format", format));
        }
        Path out = work.resolve("import-" + format + (quantize == null ? "" : "-" + quantize));
        if (!Files.exists(out.resolve("fixture.json"))) {
            List<String> args = new ArrayList<>(List.of(IMPORTER.resolve("make_fixture.py").toString(),
                    "--checkpoint", checkpoint.toString(), "--out", out.toString()));
            if (quantize != null) args.addAll(List.of("--quantize", quantize));
            run(args);
        }
        ReferenceParity parity = ReferenceParity.load(out);
        try (NextChatEngine engine = parity.open()) {
            ReferenceParity.Summary s = parity.assertEngineAnswersAsReference(engine);
            System.out.println("imported " + format + (quantize == null ? "" : " " + quantize) + ": " + s);
        }
        return parity;
    }

    private static void run(List<String> args) throws Exception {
        Result r = python(args, 600);
        if (r.exitCode != 0) fail(String.join(" ", args) + " exited " + r.exitCode + ":\n" + r.output);
    }

    private record Result(int exitCode, String output) {}

    private static Result python(List<String> args, int seconds) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(PYTHON);
        cmd.addAll(args);
        Path log = Files.createTempFile("importer", ".log");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, "timed out after " + seconds + " s");
            }
            String out = Files.readString(log);
            return new Result(p.exitValue(), out.length() > 4000 ? out.substring(out.length() - 4000) : out);
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
