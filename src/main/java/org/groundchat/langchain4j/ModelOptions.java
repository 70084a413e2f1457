package org.groundchat.langchain4j;

import org.groundchat.inference.GenerationOptions;
import org.groundchat.inference.ChatEngine;

/** The builder settings both LangChain4j models share: the engine and the default generation options. */
abstract class ModelOptions<B extends ModelOptions<B>> {
    ChatEngine engine;
    final Options options = new Options();

    @SuppressWarnings("unchecked")
    private B self() { return (B) this; }

    public B engine(ChatEngine engine) { this.engine = engine; return self(); }

    /** 0 (the default) is greedy. */
    public B temperature(double temperature) { options.temperature = temperature; return self(); }

    public B topP(double topP) { options.topP = topP; return self(); }

    public B topK(int topK) { options.topK = topK; return self(); }

    /** 0 (the default) is the bundle's limit. */
    public B maxOutputTokens(int maxOutputTokens) { options.maxNewTokens = maxOutputTokens; return self(); }

    public B seed(long seed) { options.seed = seed; return self(); }

    /** Whether answers carry a mask per region (default true). */
    public B masks(boolean masks) { options.masks = masks; return self(); }

    /** Whether answers carry a point per word (default true). */
    public B points(boolean points) { options.points = points; return self(); }

    static final class Options {
        double temperature;
        double topP = 1;
        int topK;
        int maxNewTokens;
        long seed;
        boolean masks = true;
        boolean points = true;

        GenerationOptions build() {
            return new GenerationOptions(temperature, topP, topK, maxNewTokens, seed, masks, points);
        }
    }
}
