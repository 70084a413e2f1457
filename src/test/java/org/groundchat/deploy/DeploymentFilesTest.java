package org.groundchat.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The deployment files under {@code docker/} (compose with an nginx balancer, Kubernetes manifests) cannot be run
 * here: no Docker engine, no cluster. This reads them as the tools would and checks what would break a deployment:
 * names that must agree across files (service selector and pod labels, ports, Secret keys, upstream servers), the
 * health and metrics paths the app serves with its configuration, environment variables that are real config
 * properties, shutdown and start-up budgets. Plain JUnit: no Quarkus boot.
 *
 * <p>The files are read from the repository root, or from the folder in the system property
 * {@code groundchat.deploy.root} (a copy with a deliberate mistake, to see a check fail).
 */
class DeploymentFilesTest {
    /** TurnCoordinator waits this long for its answer workers at shutdown, after the answers' grace. */
    static final Duration WORKER_WAIT = Duration.ofSeconds(10);
    /** How long running answers get to finish at shutdown (TurnCoordinator), when the app has the property. */
    static final String ANSWER_GRACE = "groundchat.shutdown.grace";
    /**
     * Measured RSS under load, 4 workers and batches of 4 (BENCHMARKS.md, "Load"), the highest measured: the request
     * must cover it (6 and 6 with a 768 MB heap measured 0.78-0.79 GB).
     */
    static final long MEASURED_RSS = 924L * 1000 * 1000;
    static final String HEALTH = "/q/health";
    /** Read by the java launcher itself (ENTRYPOINT java -jar), not by the app's configuration. */
    static final Set<String> JVM_VARIABLES = Set.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS");

    static Path root;
    static Path docker;
    static Path kube;
    static Properties app;
    static int httpPort;
    static Map<Path, List<Object>> yaml;
    static Map<String, Object> deployment;
    static Map<String, Object> container;
    static Map<String, Object> compose;

    @BeforeAll
    static void load() throws IOException {
        root = root();
        docker = root.resolve("docker");
        kube = docker.resolve("kubernetes");
        app = new Properties();
        try (Reader in = Files.newBufferedReader(root.resolve("src/main/resources/application.properties"))) {
            app.load(in);
        }
        httpPort = Integer.parseInt(app.getProperty("quarkus.http.port", "8080"));
        yaml = new LinkedHashMap<>();
        try (Stream<Path> files = Files.walk(docker)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml")).sorted().toList()) {
                yaml.put(f, parse(f));
            }
        }
        deployment = single("Deployment");
        container = map(list(at(deployment, "spec", "template", "spec", "containers")).get(0));
        compose = map(yaml.get(docker.resolve("compose.yaml")).get(0));
    }

    // ---------------------------------------------------------------------------------------------- all YAML files

    /** A file that is not YAML fails them all, already in {@link #load}, with the file and the parser's message. */
    @Test
    void everyYamlFileUnderDockerParses() {
        assertTrue(yaml.containsKey(docker.resolve("compose.yaml")), "docker/compose.yaml is missing");
        for (String f : List.of("deployment.yaml", "service.yaml", "hpa.yaml", "secret.example.yaml", "kustomization.yaml")) {
            assertTrue(yaml.containsKey(kube.resolve(f)), "docker/kubernetes/" + f + " is missing");
        }
        yaml.forEach((file, docs) -> {
            assertFalse(docs.isEmpty(), rel(file) + " holds no document");
            docs.forEach(d -> assertTrue(d instanceof Map, rel(file) + ": a document is not a mapping: " + d));
        });
    }

    // ------------------------------------------------------------------------------------------------- Kubernetes

    @Test
    void everyKubernetesDocumentHasApiVersionKindAndName() {
        for (Map.Entry<Path, List<Object>> e : kubeDocs().entrySet()) {
            for (Object d : e.getValue()) {
                String where = rel(e.getKey());
                assertTrue(text(at(d, "apiVersion")).matches("[a-z0-9.]*/?v[0-9]+[a-z0-9]*"), where + ": apiVersion " + at(d, "apiVersion"));
                assertTrue(text(at(d, "kind")).matches("[A-Z][A-Za-z]+"), where + ": kind " + at(d, "kind"));
                assertTrue(text(at(d, "metadata", "name")).matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
                        where + ": metadata.name must be a DNS label, is " + at(d, "metadata", "name"));
            }
        }
    }

    @Test
    void kustomizationAppliesEveryManifestButTheSecretExample() {
        Set<String> listed = new TreeSet<>();
        for (Object r : list(at(single("Kustomization"), "resources"))) {
            listed.add(text(r));
            assertTrue(Files.isRegularFile(kube.resolve(text(r))), "kustomization.yaml lists " + r + ", which does not exist");
        }
        Set<String> manifests = new TreeSet<>();
        kubeDocs().forEach((file, docs) -> {
            boolean secret = docs.stream().anyMatch(d -> "Secret".equals(at(d, "kind")));
            boolean kustomization = docs.stream().anyMatch(d -> "Kustomization".equals(at(d, "kind")));
            if (!secret && !kustomization) manifests.add(kube.relativize(file).toString());
            if (secret) assertFalse(listed.contains(kube.relativize(file).toString()),
                    "kustomization.yaml would apply the Secret example's placeholders: " + rel(file));
        });
        assertEquals(manifests, listed, "kustomization.yaml resources vs the manifests in docker/kubernetes");
    }

    @Test
    void serviceAndDisruptionBudgetSelectTheDeploymentsPods() {
        Map<String, Object> podLabels = map(at(deployment, "spec", "template", "metadata", "labels"));
        assertSelects(map(at(deployment, "spec", "selector", "matchLabels")), podLabels, "Deployment spec.selector");
        assertSelects(map(at(single("Service"), "spec", "selector")), podLabels, "Service spec.selector");
        for (Map<String, Object> pdb : all("PodDisruptionBudget")) {
            assertSelects(map(at(pdb, "spec", "selector", "matchLabels")), podLabels, "PodDisruptionBudget selector");
        }
    }

    @Test
    void containerServiceAndScrapePortsAreQuarkusHttpPort() {
        List<Object> ports = list(at(container, "ports"));
        assertTrue(ports.stream().anyMatch(p -> Integer.valueOf(httpPort).equals(at(p, "containerPort"))),
                "the container declares no containerPort " + httpPort + " (quarkus.http.port): " + ports);
        Map<String, Object> service = single("Service");
        for (Object p : list(at(service, "spec", "ports"))) {
            Object target = at(p, "targetPort") == null ? at(p, "port") : at(p, "targetPort");
            assertEquals(httpPort, containerPort(target), "Service port " + at(p, "name") + ": targetPort " + target);
        }
        Object scrapePort = at(deployment, "spec", "template", "metadata", "annotations", "prometheus.io/port");
        assertEquals(String.valueOf(httpPort), String.valueOf(scrapePort), "prometheus.io/port annotation");
    }

    @Test
    void probesAskTheHealthEndpointsTheAppServes() {
        // the endpoints move if any of these is set: /q is non-application-root-path, health the root path
        for (String moved : List.of("quarkus.http.root-path", "quarkus.http.non-application-root-path",
                "quarkus.smallrye-health.root-path", "quarkus.smallrye-health.liveness-path",
                "quarkus.smallrye-health.readiness-path", "quarkus.smallrye-health.startup-path")) {
            assertFalse(sets(moved), "application.properties sets " + moved + ": the probe paths here assume the defaults");
        }
        assertFalse(Boolean.parseBoolean(app.getProperty("quarkus.management.enabled", "false")),
                "the management interface serves health on its own port, not on quarkus.http.port");
        assertEquals(HEALTH + "/ready", probe("readinessProbe"), "readiness probe path");
        assertEquals(HEALTH + "/live", probe("livenessProbe"), "liveness probe path");
        String startup = probe("startupProbe");
        assertTrue(Set.of(HEALTH + "/started", HEALTH + "/live").contains(startup), "startup probe path " + startup);
        Map<String, Object> s = map(at(container, "startupProbe"));
        long budget = number(at(s, "periodSeconds"), 10) * number(at(s, "failureThreshold"), 3);
        assertTrue(budget >= 120, "the startup probe gives the model " + budget + " s to load; give it at least 120 s");
        for (String p : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
            assertEquals(httpPort, containerPort(at(container, p, "httpGet", "port")), p + " port");
        }
    }

    @Test
    void podsAreScrapedAtTheMetricsPath() {
        assertFalse(sets("quarkus.micrometer.export.prometheus.path"), "application.properties moves /q/metrics");
        Map<String, Object> annotations = map(at(deployment, "spec", "template", "metadata", "annotations"));
        assertEquals("true", String.valueOf(annotations.get("prometheus.io/scrape")), "prometheus.io/scrape");
        assertEquals("/q/metrics", annotations.get("prometheus.io/path"), "prometheus.io/path");
    }

    @Test
    void resourcesCoverTheMeasuredFootprint() {
        long request = bytes(text(at(container, "resources", "requests", "memory")));
        long limit = bytes(text(at(container, "resources", "limits", "memory")));
        assertTrue(request >= MEASURED_RSS, "memory request " + request + " B is under the measured RSS " + MEASURED_RSS + " B");
        assertTrue(limit >= request, "memory limit " + limit + " B is under the request " + request + " B");
        // the HorizontalPodAutoscaler's CPU utilisation is a share of this request: without it the HPA cannot scale
        double cpu = cores(at(container, "resources", "requests", "cpu"));
        assertTrue(cpu >= 1, "CPU request " + cpu + " cores: the answers need whole cores (measured: 4 workers on 2)");
        Object cpuLimit = at(container, "resources", "limits", "cpu");
        if (cpuLimit != null) assertTrue(cores(cpuLimit) >= cpu, "CPU limit under the CPU request");
    }

    @Test
    void podsGetLongerToStopThanTheAppTakes() throws IOException {
        Duration needed = appStop(env(container));
        Object preStop = at(container, "lifecycle", "preStop", "exec", "command");
        if (preStop != null) {
            List<Object> cmd = list(preStop);
            assertEquals("sleep", text(cmd.get(0)), "preStop: only a sleep is understood here: " + cmd);
            needed = needed.plusSeconds(Long.parseLong(text(cmd.get(1))));
        }
        long grace = number(at(deployment, "spec", "template", "spec", "terminationGracePeriodSeconds"), 30);
        assertTrue(grace > needed.toSeconds(), "terminationGracePeriodSeconds " + grace + " s, but the pod may need "
                + needed.toSeconds() + " s to stop (preStop, then the app's own stop)");
    }

    @Test
    void autoscalerScalesTheDeploymentOnCpuAndDocumentsTheQueueMetric() throws IOException {
        Map<String, Object> hpa = single("HorizontalPodAutoscaler");
        assertEquals("autoscaling/v2", at(hpa, "apiVersion"), "HPA apiVersion");
        assertEquals("Deployment", at(hpa, "spec", "scaleTargetRef", "kind"), "scaleTargetRef.kind");
        assertEquals("apps/v1", at(hpa, "spec", "scaleTargetRef", "apiVersion"), "scaleTargetRef.apiVersion");
        assertEquals(at(deployment, "metadata", "name"), at(hpa, "spec", "scaleTargetRef", "name"), "scaleTargetRef.name");
        long min = number(at(hpa, "spec", "minReplicas"), 1);
        long max = number(at(hpa, "spec", "maxReplicas"), 0);
        assertTrue(min >= 2 && max >= min, "HPA replicas " + min + ".." + max + ": at least two, max not under min");
        assertTrue(list(at(hpa, "spec", "metrics")).stream().anyMatch(m -> "Resource".equals(at(m, "type"))
                && "cpu".equals(at(m, "resource", "name"))), "the HPA has no CPU metric");
        // the queue metric is described (commented out: it needs an adapter) under the name the app exports
        String text = Files.readString(fileOf(hpa));
        assertTrue(text.contains("groundchat_answers_queued") && text.contains("prometheus-adapter"),
                "hpa.yaml should describe the groundchat_answers_queued metric and the adapter it needs");
        assertTrue(mainSourcesContain("\"groundchat.answers.queued\""), "the app no longer registers groundchat.answers.queued");
    }

    @Test
    void secretReferencesExistInTheSecretExample() {
        Map<String, Set<String>> secrets = new LinkedHashMap<>();
        for (Map<String, Object> s : all("Secret")) {
            Set<String> keys = new HashSet<>();
            for (String field : List.of("stringData", "data")) {
                if (s.get(field) != null) keys.addAll(map(s.get(field)).keySet());
            }
            secrets.put(text(at(s, "metadata", "name")), keys);
            if (s.get("stringData") != null) map(s.get("stringData")).forEach((k, v) -> {
                if (k.contains("password") || k.contains("key")) {
                    assertTrue(text(v).startsWith("REPLACE"), "the Secret example must hold placeholders, " + k + " is " + v);
                }
            });
        }
        int refs = 0;
        for (Object e : list(at(container, "env"))) {
            Object ref = at(e, "valueFrom", "secretKeyRef");
            if (ref == null) continue;
            refs++;
            String name = text(at(ref, "name"));
            assertTrue(secrets.containsKey(name), at(e, "name") + " reads Secret " + name + ", which no example defines: " + secrets.keySet());
            assertTrue(secrets.get(name).contains(text(at(ref, "key"))), at(e, "name") + " reads key " + at(ref, "key")
                    + ", which the example Secret " + name + " lacks: " + secrets.get(name));
        }
        Object envFrom = at(container, "envFrom");
        if (envFrom != null) for (Object f : list(envFrom)) {
            Object ref = at(f, "secretRef", "name");
            if (ref != null) assertTrue(secrets.containsKey(text(ref)), "envFrom names Secret " + ref + ", which no example defines");
        }
        assertTrue(refs >= 3, "the database URL, user and password should come from the Secret");
        for (String v : List.of("QUARKUS_DATASOURCE_JDBC_URL", "QUARKUS_DATASOURCE_USERNAME", "QUARKUS_DATASOURCE_PASSWORD",
                "QUARKUS_HTTP_AUTH_SESSION_ENCRYPTION_KEY")) {
            Object entry = list(at(container, "env")).stream().filter(e -> v.equals(at(e, "name"))).findFirst().orElse(null);
            assertNotNull(entry, v + " is not set on the container");
            assertNotNull(at(entry, "valueFrom", "secretKeyRef"), v + " should come from the Secret, not a literal");
        }
    }

    @Test
    void environmentVariablesAreRealConfigProperties() throws IOException {
        Map<String, String> quarkus = quarkusRuntimeEnvNames();
        Set<String> groundchat = groundchatProperties().stream().map(DeploymentFilesTest::envName).collect(Collectors.toSet());
        Map<String, Collection<String>> sources = new LinkedHashMap<>();
        sources.put("docker/kubernetes/deployment.yaml", env(container).keySet());
        for (String s : appServices(true)) sources.put("docker/compose.yaml " + s, env(service(s)).keySet());
        sources.put("docker/Dockerfile", dockerfile("ENV").stream().map(a -> a.split("[= ]", 2)[0]).toList());
        sources.forEach((where, names) -> {
            for (String name : names) {
                if (name.startsWith("QUARKUS_")) {
                    assertTrue(quarkus.containsKey(name), where + ": " + name + " is no Quarkus property of this app's extensions");
                    assertEquals("RUN_TIME", quarkus.get(name), where + ": " + name + " is fixed at build time; setting it at run time does nothing");
                } else if (!JVM_VARIABLES.contains(name)) {
                    assertTrue(groundchat.contains(name), where + ": " + name + " names no groundchat.* property (application.properties or @ConfigProperty)");
                }
            }
        });
    }

    // ---------------------------------------------------------------------------------------------------- compose

    @Test
    void composeDependenciesAndReplicasAreWired() throws IOException {
        Map<String, Object> services = map(compose.get("services"));
        for (String needed : List.of("postgres", "app1", "app2", "balancer")) {
            assertTrue(services.containsKey(needed), "compose.yaml has no service " + needed);
        }
        services.forEach((name, s) -> {
            Object deps = at(s, "depends_on");
            if (deps == null) return;
            Collection<?> names = deps instanceof Map<?, ?> m ? m.keySet() : list(deps);
            for (Object d : names) assertTrue(services.containsKey(text(d)), name + " depends on " + d + ", which is no service");
        });
        List<String> replicas = appServices(false);
        assertTrue(replicas.size() >= 2, "compose.yaml runs fewer than two app replicas: " + replicas);
        Map<String, Object> first = service(replicas.get(0));
        for (String r : replicas) {
            Map<String, Object> s = service(r);
            assertEquals(first.get("image"), s.get("image"), r + ": another image than " + replicas.get(0));
            for (String v : List.of("QUARKUS_DATASOURCE_JDBC_URL", "QUARKUS_DATASOURCE_USERNAME", "QUARKUS_DATASOURCE_PASSWORD")) {
                assertNotNull(env(s).get(v), r + " does not set " + v);
                assertEquals(env(first).get(v), env(s).get(v), r + ": " + v + " differs from " + replicas.get(0));
            }
            Matcher url = Pattern.compile("jdbc:postgresql://([^:/]+)").matcher(env(s).get("QUARKUS_DATASOURCE_JDBC_URL"));
            assertTrue(url.find() && services.containsKey(url.group(1)), r + ": the JDBC URL's host is no compose service");
            String trusted = env(s).get("QUARKUS_HTTP_PROXY_TRUSTED_PROXIES");
            assertNotNull(trusted, r + ": without QUARKUS_HTTP_PROXY_TRUSTED_PROXIES the app ignores the balancer's X-Forwarded-For");
            assertTrue(List.of(trusted.split(",")).contains(balancer()), r + ": QUARKUS_HTTP_PROXY_TRUSTED_PROXIES should name the balancer service");
            Duration grace = goDuration(String.valueOf(s.getOrDefault("stop_grace_period", "10s")));
            Duration needed = appStop(env(s));
            assertTrue(grace.compareTo(needed) > 0, r + ": stop_grace_period " + grace + " is not over " + needed);
        }
    }

    @Test
    void composeReplicasShareOneSessionKey() {
        List<String> replicas = appServices(false);
        String configured = env(service(replicas.get(0))).get("QUARKUS_HTTP_AUTH_SESSION_ENCRYPTION_KEY");
        if (configured != null) {
            for (String r : replicas) assertEquals(configured, env(service(r)).get("QUARKUS_HTTP_AUTH_SESSION_ENCRYPTION_KEY"), r + ": another session key");
            return;
        }
        // else each replica reads session.key beside its database directory (SessionKeyConfigSourceFactory), which is
        // relative to the image's WORKDIR: those folders must be one volume
        List<String> workdir = dockerfile("WORKDIR");
        String keyDir = workdir.get(workdir.size() - 1) + "/" + Path.of(app.getProperty("groundchat.db.dir", ".data/postgres")).getParent();
        String volume = volumeAt(service(replicas.get(0)), keyDir);
        for (String r : replicas) {
            String v = volumeAt(service(r), keyDir);
            assertNotNull(v, r + " mounts nothing at " + keyDir + ": each replica would make its own session key");
            assertEquals(volume, v, r + " mounts another volume at " + keyDir + " than " + replicas.get(0));
            assertTrue(map(compose.get("volumes")).containsKey(v), r + " mounts " + v + ", which is no named volume");
            // made before the replicas start, by a one-shot service on the same volume: two replicas starting at once
            // would otherwise each write a key, and one of them could keep its own
            Object deps = at(service(r), "depends_on");
            boolean madeFirst = deps instanceof Map<?, ?> m && m.entrySet().stream().anyMatch(d ->
                    "service_completed_successfully".equals(at(d.getValue(), "condition")) && v.equals(volumeAt(service(text(d.getKey())), keyDir)));
            assertTrue(madeFirst, r + " does not wait for a one-shot service that writes the key into " + v);
        }
    }

    static String volumeAt(Map<String, Object> service, String target) {
        return mounts(service).entrySet().stream().filter(m -> m.getValue().equals(target)).map(Map.Entry::getKey).findFirst().orElse(null);
    }

    @Test
    void everyReplicaHasItsOwnName() throws IOException {
        // a replica's name in the answer claims: groundchat.replicas.name, else its host name and port. Two replicas
        // under one name would take each other's claims for their own (and clear them at start)
        String property = "groundchat.replicas.name";
        assertTrue(groundchatProperties().contains(property), property + " is gone from the app: update the deployment files");
        String variable = envName(property);
        Map<String, String> names = new LinkedHashMap<>();
        for (String r : appServices(false)) {
            Map<String, Object> s = service(r);
            String name = env(s).get(variable) != null ? env(s).get(variable) : s.get("hostname") != null ? text(s.get("hostname")) : null;
            if (name == null) continue; // the container's own id: different for every container
            String other = names.put(name, r);
            assertTrue(other == null, r + " and " + other + " are both named " + name);
        }
        // a Deployment's pods share one spec: a literal name would be every pod's (the pod name, the default, is not)
        for (Object e : list(at(container, "env"))) {
            if (variable.equals(at(e, "name"))) {
                assertNotNull(at(e, "valueFrom", "fieldRef"), variable + " must differ per pod: take it from metadata.name or leave it out");
            }
        }
    }

    @Test
    void balancerConfigPassesWebSocketsToEveryReplica() throws IOException {
        Map<String, Object> lb = service(balancer());
        Map.Entry<String, String> conf = mounts(lb).entrySet().stream().filter(m -> m.getValue().startsWith("/etc/nginx/"))
                .findFirst().orElseThrow(() -> new AssertionError("the balancer mounts no config into /etc/nginx/"));
        Path file = docker.resolve(conf.getKey()).normalize();
        assertTrue(Files.isRegularFile(file), "the balancer mounts " + conf.getKey() + ", which does not exist");
        List<Nginx> top = Nginx.parse(Files.readString(file));
        Nginx server = Nginx.find(top, "server").stream().findFirst().orElseThrow(() -> new AssertionError(rel(file) + ": no server block"));

        // upstream servers: exactly the app replicas, on quarkus.http.port; every proxy_pass names an upstream
        Map<String, Set<String>> upstreams = new LinkedHashMap<>();
        for (Nginx u : Nginx.find(top, "upstream")) {
            upstreams.put(u.args.get(0), Nginx.find(u.children, "server").stream().map(s -> s.args.get(0)).collect(Collectors.toCollection(TreeSet::new)));
        }
        Set<String> expected = appServices(false).stream().map(s -> s + ":" + httpPort).collect(Collectors.toCollection(TreeSet::new));
        // "resolve" on an upstream server (look the replicas up while running) came to open-source nginx in 1.27.3
        boolean resolves = Nginx.find(top, "upstream").stream().flatMap(u -> Nginx.find(u.children, "server").stream()).anyMatch(d -> d.args.contains("resolve"));
        Matcher tag = Pattern.compile("nginx:(\\d+)\\.(\\d+)(?:\\.(\\d+))?.*").matcher(text(lb.get("image")));
        if (resolves && tag.matches()) {
            int[] v = {Integer.parseInt(tag.group(1)), Integer.parseInt(tag.group(2)), tag.group(3) == null ? 99 : Integer.parseInt(tag.group(3))};
            assertTrue(Arrays.compare(v, new int[] {1, 27, 3}) >= 0, "nginx.conf uses upstream \"resolve\", which " + lb.get("image") + " lacks (1.27.3+)");
        }
        List<Nginx> locations = Nginx.find(server.children, "location");
        assertFalse(locations.isEmpty(), "no location in the server block");
        for (Nginx loc : locations) {
            for (Nginx pass : Nginx.find(loc.children, "proxy_pass")) {
                String name = pass.args.get(0).replaceFirst("^http://", "").replaceFirst("/.*", "");
                assertEquals(expected, upstreams.get(name), "location " + loc.args + " passes to " + name + ": the upstream's servers");
            }
        }

        // nginx picks the longest matching prefix location (this file has no regular-expression locations)
        Nginx ws = locations.stream().filter(l -> l.args.size() == 1 && "/ws/conversations/1".startsWith(l.args.get(0)))
                .max((a, b) -> Integer.compare(a.args.get(0).length(), b.args.get(0).length())).orElse(null);
        assertTrue(ws != null && !ws.args.get(0).equals("/"), "no location for /ws/: WebSockets would get the plain HTTP settings");
        assertEquals("1.1", Nginx.effective("proxy_http_version", ws, server, top), "proxy_http_version for /ws/");
        // a location that sets any proxy_set_header inherits none: its own set must be complete
        Map<String, String> headers = Nginx.headers(ws, server);
        assertEquals("$http_upgrade", headers.get("upgrade"), "Upgrade header for /ws/");
        String connection = headers.get("connection");
        assertNotNull(connection, "no Connection header for /ws/");
        if (connection.startsWith("$")) {
            Nginx map = Nginx.find(top, "map").stream().filter(m -> m.args.get(1).equals(connection)).findFirst()
                    .orElseThrow(() -> new AssertionError(connection + " is set by no map"));
            assertEquals("$http_upgrade", map.args.get(0), connection + " should follow $http_upgrade");
            assertEquals("upgrade", Nginx.find(map.children, "default").get(0).args.get(0), connection + "'s default");
        } else {
            assertEquals("upgrade", connection.toLowerCase(Locale.ROOT), "Connection header for /ws/");
        }
        assertEquals("$http_host", headers.get("host"), "/ws/ must pass the client's Host: the app's origin check compares it with Origin");
        assertEquals("$http_host", Nginx.headers(server, null).get("host"), "the server block must pass the client's Host");
        long wsTimeout = nginxSeconds(Nginx.effective("proxy_read_timeout", ws, server, top), 60);
        assertTrue(wsTimeout >= 600, "proxy_read_timeout for /ws/ is " + wsTimeout + " s: idle sockets are cut");

        long body = nginxBytes(Nginx.effective("client_max_body_size", server, server, top));
        long limit = nginxBytes(app.getProperty("quarkus.http.limits.max-body-size", "10240K"));
        assertTrue(body >= limit, "client_max_body_size " + body + " B is under quarkus.http.limits.max-body-size " + limit + " B");

        // the published port reaches what nginx listens on
        String listen = Nginx.find(server.children, "listen").get(0).args.get(0).replaceFirst(".*:", "");
        List<String> published = list(lb.get("ports")).stream().map(p -> p instanceof Map<?, ?> m ? String.valueOf(m.get("target"))
                : text(p).replaceFirst("/.*", "").replaceFirst(".*:", "")).toList();
        assertTrue(published.contains(listen), "the balancer publishes " + published + " but nginx listens on " + listen);
    }

    @Test
    void dockerfileExposesQuarkusHttpPort() {
        List<String> exposed = dockerfile("EXPOSE").stream().flatMap(a -> Stream.of(a.split("\\s+"))).map(p -> p.replaceFirst("/.*", "")).toList();
        assertTrue(exposed.contains(String.valueOf(httpPort)), "Dockerfile EXPOSE " + exposed + " vs quarkus.http.port " + httpPort);
        for (String s : appServices(true)) {
            assertEquals("docker/Dockerfile", text(at(service(s), "build", "dockerfile")), s + " builds another Dockerfile");
        }
    }

    // ---------------------------------------------------------------------------------------------------- helpers

    static Path root() {
        String configured = System.getProperty("groundchat.deploy.root");
        if (configured != null) return Path.of(configured).toAbsolutePath();
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("docker/compose.yaml")) && Files.isRegularFile(p.resolve("pom.xml"))) return p;
        }
        throw new AssertionError("no repository root with docker/compose.yaml above " + Path.of("").toAbsolutePath());
    }

    static List<Object> parse(Path f) {
        try (Reader in = Files.newBufferedReader(f)) {
            List<Object> docs = new ArrayList<>();
            for (Object d : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(in)) if (d != null) docs.add(d);
            return docs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            throw new AssertionError(f + " is not valid YAML: " + e.getMessage(), e);
        }
    }

    /** Whether application.properties sets the property, in any profile. */
    static boolean sets(String property) {
        return app.stringPropertyNames().stream().anyMatch(k -> k.replaceFirst("^%[^.]+\\.", "").equals(property));
    }

    static String rel(Path p) {
        return root.relativize(p).toString();
    }

    static Map<Path, List<Object>> kubeDocs() {
        Map<Path, List<Object>> m = new LinkedHashMap<>();
        yaml.forEach((f, d) -> {
            if (f.startsWith(kube)) m.put(f, d);
        });
        return m;
    }

    static List<Map<String, Object>> all(String kind) {
        return kubeDocs().values().stream().flatMap(List::stream).filter(d -> kind.equals(at(d, "kind"))).map(DeploymentFilesTest::map).toList();
    }

    static Map<String, Object> single(String kind) {
        List<Map<String, Object>> found = all(kind);
        assertEquals(1, found.size(), "Kubernetes manifests of kind " + kind);
        return found.get(0);
    }

    static Path fileOf(Object doc) {
        return kubeDocs().entrySet().stream().filter(e -> e.getValue().contains(doc)).map(Map.Entry::getKey).findFirst().orElseThrow();
    }

    static Object at(Object node, String... path) {
        Object n = node;
        for (String k : path) {
            if (!(n instanceof Map<?, ?> m)) return null;
            n = m.get(k);
        }
        return n;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        assertTrue(o instanceof Map, "expected a mapping, found " + o);
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) {
        assertTrue(o instanceof List, "expected a list, found " + o);
        return (List<Object>) o;
    }

    static String text(Object o) {
        assertNotNull(o, "a required value is missing");
        return String.valueOf(o);
    }

    static long number(Object o, long absent) {
        return o == null ? absent : Long.parseLong(String.valueOf(o));
    }

    static void assertSelects(Map<String, Object> selector, Map<String, Object> labels, String what) {
        assertFalse(selector.isEmpty(), what + " is empty");
        selector.forEach((k, val) -> assertEquals(val, labels.get(k), what + " wants " + k + "=" + val + "; the pods are labelled " + labels));
    }

    /** The container port a Service targetPort or probe port names (a number, or the name of a container port). */
    static int containerPort(Object port) {
        if (port instanceof Integer n) return n;
        for (Object p : list(at(container, "ports"))) {
            if (text(port).equals(at(p, "name"))) return (Integer) at(p, "containerPort");
        }
        throw new AssertionError("no container port named " + port);
    }

    static String probe(String kind) {
        return text(at(container, kind, "httpGet", "path"));
    }

    /** Environment of a Kubernetes container (literal values only; null for valueFrom) or of a compose service. */
    static Map<String, String> env(Map<String, Object> holder) {
        Map<String, String> env = new LinkedHashMap<>();
        Object e = holder.containsKey("environment") ? holder.get("environment") : holder.get("env");
        if (e instanceof Map<?, ?> m) {
            m.forEach((k, val) -> env.put(text(k), val == null ? null : String.valueOf(val)));
        } else if (e instanceof List<?> l) {
            for (Object item : l) {
                if (item instanceof Map<?, ?> kv && kv.containsKey("name")) {
                    env.put(text(kv.get("name")), kv.get("value") == null ? null : String.valueOf(kv.get("value")));
                } else {
                    String[] kv = text(item).split("=", 2);
                    env.put(kv[0], kv.length > 1 ? kv[1] : null);
                }
            }
        }
        return env;
    }

    /**
     * The longest the app takes to stop after SIGTERM: Quarkus' shutdown delay and its wait for requests in flight
     * (quarkus.shutdown.delay and .timeout, none unless set), the answers' grace (as configured, else the default
     * written in the code) and the workers' wait.
     */
    static Duration appStop(Map<String, String> env) throws IOException {
        Duration stop = WORKER_WAIT;
        for (String quarkus : List.of("quarkus.shutdown.delay", "quarkus.shutdown.timeout")) {
            String value = env.getOrDefault(envName(quarkus), app.getProperty(quarkus));
            if (value != null) stop = stop.plus(goDuration(value));
        }
        String grace = env.get(envName(ANSWER_GRACE));
        if (grace == null) grace = app.getProperty(ANSWER_GRACE);
        if (grace == null) {
            Pattern declared = Pattern.compile("name = \"" + Pattern.quote(ANSWER_GRACE) + "\", defaultValue = \"([^\"]+)\"");
            try (Stream<Path> files = Files.walk(root.resolve("src/main/java"))) {
                for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                    Matcher m = declared.matcher(Files.readString(f));
                    if (m.find()) grace = m.group(1);
                }
            }
        }
        return grace == null ? stop : stop.plus(goDuration(grace));
    }

    /** "45s", "1m30s", "20" (seconds) or ISO-8601 "PT20S". */
    static Duration goDuration(String s) {
        if (s.startsWith("P")) return Duration.parse(s);
        if (s.matches("\\d+")) return Duration.ofSeconds(Long.parseLong(s));
        Matcher m = Pattern.compile("(\\d+)(ms|h|m|s)").matcher(s);
        Duration d = Duration.ZERO;
        int end = 0;
        while (m.find()) {
            assertEquals(end, m.start(), "unreadable duration " + s);
            long n = Long.parseLong(m.group(1));
            d = d.plus(switch (m.group(2)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofHours(n);
            });
            end = m.end();
        }
        assertEquals(s.length(), end, "unreadable duration " + s);
        return d;
    }

    /** Kubernetes memory quantity: 1536Mi, 3Gi (powers of 1024), 2G, 500k (powers of 1000), 1000000. */
    static long bytes(String q) {
        Matcher m = Pattern.compile("(\\d+(?:\\.\\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?").matcher(q);
        assertTrue(m.matches(), "unreadable memory quantity " + q);
        String unit = m.group(2) == null ? "" : m.group(2);
        int power = unit.isEmpty() ? 0 : " KMGT".indexOf(Character.toUpperCase(unit.charAt(0)));
        return (long) (Double.parseDouble(m.group(1)) * Math.pow(unit.endsWith("i") ? 1024 : 1000, power));
    }

    /** Kubernetes CPU quantity: "2", 2, 1.5, "500m". */
    static double cores(Object q) {
        String s = text(q);
        return s.endsWith("m") ? Double.parseDouble(s.substring(0, s.length() - 1)) / 1000 : Double.parseDouble(s);
    }

    /** nginx or Quarkus size: 29m, 28M, 1g, 512k, 1024 (bytes); both count in powers of 1024. */
    static long nginxBytes(String s) {
        Matcher m = Pattern.compile("(\\d+)([kKmMgG]?)").matcher(s);
        assertTrue(m.matches(), "unreadable size " + s);
        int power = m.group(2).isEmpty() ? 0 : "kmg".indexOf(m.group(2).toLowerCase(Locale.ROOT)) + 1;
        return Long.parseLong(m.group(1)) << (10 * power);
    }

    /** nginx time: 3600s, 10m, 1h, 60 (seconds). */
    static long nginxSeconds(String s, long absent) {
        return s == null ? absent : goDuration(s).toSeconds();
    }

    static Map<String, Object> service(String name) {
        return map(at(compose, "services", name));
    }

    /** Services built from docker/Dockerfile (the app image); without one-shots (an entrypoint of their own) unless asked. */
    static List<String> appServices(boolean withOneShots) {
        Map<String, Object> services = map(compose.get("services"));
        Set<Object> built = services.values().stream().filter(s -> at(s, "build") != null).map(s -> at(s, "image")).collect(Collectors.toSet());
        List<String> names = new ArrayList<>();
        services.forEach((name, s) -> {
            boolean app = at(s, "build") != null || (at(s, "image") != null && built.contains(at(s, "image")));
            if (app && (withOneShots || at(s, "entrypoint") == null)) names.add(name);
        });
        return names;
    }

    /** The compose service that mounts an nginx config. */
    static String balancer() {
        return map(compose.get("services")).entrySet().stream().filter(e -> mounts(map(e.getValue())).values().stream()
                .anyMatch(t -> t.startsWith("/etc/nginx/"))).map(Map.Entry::getKey).findFirst()
                .orElseThrow(() -> new AssertionError("no compose service mounts an nginx config"));
    }

    /** A compose service's mounts: source (volume name or path) to target. */
    static Map<String, String> mounts(Map<String, Object> service) {
        Map<String, String> m = new LinkedHashMap<>();
        Object volumes = service.get("volumes");
        if (volumes == null) return m;
        for (Object v : list(volumes)) {
            if (v instanceof Map<?, ?> lm) {
                m.put(text(lm.get("source")), text(lm.get("target")));
            } else {
                String[] parts = text(v).split(":");
                if (parts.length >= 2) m.put(parts[0], parts[1]);
            }
        }
        return m;
    }

    /** The arguments of every instruction of this name in docker/Dockerfile. */
    static List<String> dockerfile(String instruction) {
        try {
            return Files.readAllLines(docker.resolve("Dockerfile")).stream().map(String::strip)
                    .filter(l -> l.toUpperCase(Locale.ROOT).startsWith(instruction + " ")).map(l -> l.substring(instruction.length()).strip()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** SmallRye's environment variable name for a property: every other character than [A-Za-z0-9] becomes _. */
    static String envName(String property) {
        return property.replaceAll("[^A-Za-z0-9]", "_").toUpperCase(Locale.ROOT);
    }

    /** groundchat.* properties: application.properties keys (any profile) and the names the main code reads. */
    static Set<String> groundchatProperties() throws IOException {
        Set<String> names = new TreeSet<>();
        for (String k : app.stringPropertyNames()) {
            String key = k.replaceFirst("^%[^.]+\\.", "");
            if (key.startsWith("groundchat.")) names.add(key);
        }
        Pattern literal = Pattern.compile("\"(groundchat\\.[a-z0-9.-]+)\"");
        try (Stream<Path> files = Files.walk(root.resolve("src/main/java"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Matcher m = literal.matcher(Files.readString(f));
                while (m.find()) names.add(m.group(1));
            }
        }
        return names;
    }

    static boolean mainSourcesContain(String text) throws IOException {
        try (Stream<Path> files = Files.walk(root.resolve("src/main/java"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                if (Files.readString(f).contains(text)) return true;
            }
        }
        return false;
    }

    /** Environment variable to phase of every property the Quarkus extensions on the classpath document. */
    static Map<String, String> quarkusRuntimeEnvNames() throws IOException {
        Map<String, String> names = new LinkedHashMap<>();
        Enumeration<URL> models = DeploymentFilesTest.class.getClassLoader().getResources("META-INF/quarkus-config-doc/quarkus-config-model.json");
        ObjectMapper json = new ObjectMapper();
        while (models.hasMoreElements()) {
            try (InputStream in = models.nextElement().openStream()) {
                collect(json.readTree(in), names);
            }
        }
        assertFalse(names.isEmpty(), "no Quarkus config model on the test classpath: cannot check QUARKUS_* names");
        return names;
    }

    static void collect(JsonNode node, Map<String, String> names) {
        if (node.isObject()) {
            JsonNode path = node.get("path");
            if (path != null && path.has("environmentVariable") && node.has("phase")) {
                names.put(path.get("environmentVariable").asText(), node.get("phase").asText());
            }
        }
        node.forEach(child -> collect(child, names));
    }

    /** An nginx directive: name, arguments and, for a block, its directives. Enough of nginx's syntax for this file. */
    record Nginx(String name, List<String> args, List<Nginx> children) {
        static List<Nginx> parse(String text) {
            List<String> tokens = new ArrayList<>();
            Matcher m = Pattern.compile("#[^\\n]*|'([^']*)'|\"([^\"]*)\"|([{};])|([^\\s{};'\"#]+)").matcher(text);
            while (m.find()) {
                if (m.group().startsWith("#")) continue;
                tokens.add(m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group());
            }
            int[] pos = {0};
            List<Nginx> top = block(tokens, pos);
            assertEquals(tokens.size(), pos[0], "nginx config: unbalanced }");
            return top;
        }

        static List<Nginx> block(List<String> tokens, int[] pos) {
            List<Nginx> out = new ArrayList<>();
            while (pos[0] < tokens.size() && !tokens.get(pos[0]).equals("}")) {
                String name = tokens.get(pos[0]++);
                List<String> args = new ArrayList<>();
                while (pos[0] < tokens.size() && !tokens.get(pos[0]).equals(";") && !tokens.get(pos[0]).equals("{")) args.add(tokens.get(pos[0]++));
                assertTrue(pos[0] < tokens.size(), "nginx config: directive " + name + " does not end");
                if (tokens.get(pos[0]++).equals("{")) {
                    List<Nginx> children = block(tokens, pos);
                    assertTrue(pos[0] < tokens.size(), "nginx config: block " + name + " is not closed");
                    pos[0]++;
                    out.add(new Nginx(name, args, children));
                } else {
                    out.add(new Nginx(name, args, List.of()));
                }
            }
            return out;
        }

        static List<Nginx> find(List<Nginx> in, String name) {
            return in.stream().filter(d -> d.name.equals(name)).toList();
        }

        /** The value in force in a location: its own, else the server's, else the http level's. */
        static String effective(String name, Nginx location, Nginx server, List<Nginx> top) {
            for (List<Nginx> level : List.of(location.children, server.children, top)) {
                List<Nginx> found = find(level, name);
                if (!found.isEmpty()) return found.get(found.size() - 1).args.get(0);
            }
            return null;
        }

        /** proxy_set_header in force (lower-case names): a level's own set, or the outer level's when it has none. */
        static Map<String, String> headers(Nginx level, Nginx outer) {
            Map<String, String> h = new LinkedHashMap<>();
            for (Nginx d : find(level.children, "proxy_set_header")) h.put(d.args.get(0).toLowerCase(Locale.ROOT), d.args.size() > 1 ? d.args.get(1) : "");
            return h.isEmpty() && outer != null ? headers(outer, null) : h;
        }
    }
}
