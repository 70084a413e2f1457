package org.groundchat.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.agroal.api.AgroalDataSource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The answer lifecycle has one set of names: the enum, the database's CHECK on messages.status, and the UI. */
@QuarkusTest
class AnswerStatusTest {
    private static final Set<String> NAMES = Arrays.stream(AnswerStatus.values()).map(AnswerStatus::stored)
            .collect(Collectors.toCollection(TreeSet::new));

    @Inject
    AgroalDataSource db;

    @Test
    void theDatabaseAllowsExactlyTheEnumsStatuses() throws Exception {
        String check;
        try (Connection c = db.getConnection(); Statement s = c.createStatement();
             ResultSet r = s.executeQuery("select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'messages'::regclass"
                     + " and contype = 'c' and pg_get_constraintdef(oid) like '%status%'")) {
            assertTrue(r.next(), "messages.status has a CHECK");
            check = r.getString(1);
        }
        Set<String> allowed = new TreeSet<>();
        Matcher m = Pattern.compile("'([a-z_]+)'").matcher(check);
        while (m.find()) allowed.add(m.group(1));
        assertEquals(NAMES, allowed, check);
    }

    @Test
    void theUiKnowsNoOtherStatus() throws Exception {
        String app = Files.readString(Path.of("frontend/src/app.js"));
        Set<String> used = new TreeSet<>();
        Matcher m = Pattern.compile("(?:status === |dataset\\.status = |status \\|\\| )'([a-z_]+)'").matcher(app);
        while (m.find()) used.add(m.group(1));
        assertTrue(used.size() >= 3, "the UI's statuses were found: " + used);
        // the UI's own states before the server stores anything: a question in the outbox, a waiting answer
        used.remove("sending");
        used.remove("queued");
        assertTrue(NAMES.containsAll(used), "the UI uses " + used + ", the lifecycle is " + NAMES);
    }
}
