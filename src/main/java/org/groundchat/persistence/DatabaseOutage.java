package org.groundchat.persistence;

import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientConnectionException;
import java.sql.SQLNonTransientConnectionException;

/**
 * Tells a lost database apart from every other failure, so the client hears {@code database_unavailable} (retry
 * later, nothing was stored) instead of an internal error. Hibernate, Agroal and the transaction manager each wrap
 * the driver's exception differently; the SQL state of the driver's exception is what they have in common.
 */
public final class DatabaseOutage {
    public static final String CODE = "database_unavailable";
    public static final String REASON = "The database is unavailable; nothing was stored. Try again in a few seconds.";
    private static final int MAX_DEPTH = 16;

    private DatabaseOutage() {}

    /** True when {@code failure} or one of its causes says the connection to the database failed or was refused. */
    public static boolean isCause(Throwable failure) {
        Throwable t = failure;
        for (int depth = 0; t != null && depth < MAX_DEPTH; depth++, t = t.getCause()) {
            if (t instanceof org.hibernate.exception.JDBCConnectionException) return true;
            if (t instanceof SQLTransientConnectionException || t instanceof SQLNonTransientConnectionException
                    || t instanceof SQLRecoverableException) return true;
            if (t instanceof SQLException sql && isConnectionState(sql.getSQLState())) return true;
        }
        return false;
    }

    /** Class 08 (connection exception) and 57P01-57P03 (the server shut down, crashed or is starting). */
    private static boolean isConnectionState(String state) {
        if (state == null) return false;
        return state.startsWith("08") || state.equals("57P01") || state.equals("57P02") || state.equals("57P03");
    }
}
