package org.groundchat.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What GET /api/model says comes from the bundle: the bundled model's own files, and another bundle's. */
class ModelInfoResourceTest {
    @Test
    void theBundledModelsWordsQuestionsAndScenesComeFromItsFiles() {
        ModelInfoResource.Info info = ModelInfoResource.read(Path.of("models/default"));
        Map<String, Object> body = info.body();
        assertFalse(((String) body.get("name")).isBlank());
        List<?> words = (List<?>) body.get("words");
        assertTrue(words.containsAll(List.of("circle", "red", "where", "describe")), words.toString());
        assertFalse(words.contains("<unk>") || words.contains(",") || words.contains("7"), "only plain words: " + words);
        List<?> questions = (List<?>) body.get("exampleQuestions");
        assertTrue(questions.contains("what is this #1 ?"), "a drawn box is written as the UI writes it: " + questions);
        assertEquals(9, body.get("samples"));
        assertEquals(9, info.samples().size());
    }

    @Test
    void aSubwordTokenizerListsNoWordsAndABundleWithoutGoldenCasesNoSamples(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("bundle.json"), "{\"name\": \"other\", \"parameters\": 7, \"image\": {\"size\": 224},"
                + " \"files\": {\"tokenizer\": \"tok.json\"}}");
        Files.writeString(dir.resolve("tok.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"circle\": 0, \"Ġred\": 1}}}");
        Map<String, Object> body = ModelInfoResource.read(dir).body();
        assertEquals("other", body.get("name"));
        assertEquals(List.of(), body.get("words"));
        assertEquals(List.of(), body.get("exampleQuestions"));
        assertEquals(0, body.get("samples"));
    }
}
