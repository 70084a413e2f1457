#!/usr/bin/env bash
# Sourced by the bench scripts: compiles the app and the benchmarks, sets CP to the engine's runtime classpath.
mvn -B -q -DskipTests -DskipNpm=true compile dependency:build-classpath -Dmdep.outputFile=target/bench-classpath.txt
# only what the engine needs: the full test classpath made this JVM crash at start (seen 2026-11-25, not analysed)
CP="target/classes:$(tr ':' '\n' < target/bench-classpath.txt | grep -E 'onnxruntime|jackson' | paste -sd:)"
mkdir -p target/bench bench/results
javac -d target/bench -cp "$CP" bench/EngineBenchmark.java bench/BatchBenchmark.java bench/PromptCacheBenchmark.java
