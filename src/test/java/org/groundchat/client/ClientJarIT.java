package org.groundchat.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;

/**
 * The packaged client jar stands alone: it holds only the remote models, and with nothing but langchain4j-core and
 * its own dependencies (Jackson, SLF4J) on the class path a model builds, maps a request and sends it (to a port
 * where nothing listens, so it must fail as LangChain4j's HttpException, not as a missing class).
 */
class ClientJarIT {
    static final List<String> ALLOWED_DEPENDENCIES = List.of("langchain4j-core-", "jackson-core-", "jackson-databind-",
            "jackson-annotations-", "slf4j-api-", "jspecify-");

    @Test
    void theClientJarRunsWithLangChain4jCoreAlone() throws Exception {
        File jar = new File("target").listFiles((d, n) -> n.startsWith("groundchat-") && n.endsWith("-client.jar"))[0];
        try (JarFile j = new JarFile(jar)) {
            j.stream().map(e -> e.getName()).filter(n -> !n.startsWith("META-INF/") && !n.endsWith("/")).forEach(n ->
                    assertTrue(n.startsWith("org/groundchat/client/"), "only the client in the client jar: " + n));
        }
        List<URL> urls = new ArrayList<>();
        urls.add(jar.toURI().toURL());
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String name = new File(entry).getName();
            if (ALLOWED_DEPENDENCIES.stream().anyMatch(name::startsWith)) urls.add(new File(entry).toURI().toURL());
        }
        try (URLClassLoader isolated = new URLClassLoader(urls.toArray(URL[]::new), ClassLoader.getPlatformClassLoader())) {
            Class<?> model = isolated.loadClass("org.groundchat.client.GroundChatChatModel");
            Object builder = model.getMethod("builder").invoke(null);
            Class<?> b = builder.getClass();
            b.getMethod("baseUrl", String.class).invoke(builder, "http://127.0.0.1:9");
            b.getMethod("apiKey", String.class).invoke(builder, "gc_token");
            Object chat = b.getMethod("build").invoke(builder);
            Method ask = model.getMethod("chat", String.class);
            InvocationTargetException failure = org.junit.jupiter.api.Assertions.assertThrows(InvocationTargetException.class,
                    () -> ask.invoke(chat, "hello"));
            assertEquals("dev.langchain4j.exception.HttpException", failure.getCause().getClass().getName(),
                    "a connection failure, not a missing class: " + failure.getCause());
            assertEquals(isolated, failure.getCause().getClass().getClassLoader(), "LangChain4j came from the isolated loader");
        }
    }
}
