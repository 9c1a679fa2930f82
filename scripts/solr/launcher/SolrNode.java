import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Properties;

/**
 * Starts one SolrCloud node (Jetty + SolrDispatchFilter) from Solr's own Maven jars, for the
 * bluegreen local stack (scripts/lib/solr.sh). Works with Solr 8.x and 9.x unchanged: Solr's
 * JettySolrRunner moved from solr-core's org.apache.solr.client.solrj.embedded (8.x) to
 * solr-test-framework's org.apache.solr.embedded (9.x), with the same constructor and builder
 * methods, so it is looked up at run time and this file compiles without Solr on the classpath.
 *
 * <p>Settings are system properties (Solr reads most of them itself as well):
 *
 * <ul>
 *   <li>solr.solr.home: directory holding solr.xml; cores and their data are created below it
 *   <li>jetty.port: HTTP port
 *   <li>hostContext: context path (default /solr)
 *   <li>host: host name the node registers in ZooKeeper (default 127.0.0.1)
 *   <li>zkHost: ZooKeeper connect string with chroot, e.g. 127.0.0.1:2181/solr-new
 *   <li>bluegreen.ssl.keyStore, bluegreen.ssl.keyStorePassword (optional): serve HTTPS instead of
 *       HTTP with this PKCS12 key store (9.x: JettyConfig.withSSLConfig); the cluster property
 *       urlScheme=https must be set in the chroot and javax.net.ssl.trustStore must trust the
 *       certificate (Solr's own client calls the node back over https)
 * </ul>
 *
 * Runs until the JVM is told to stop (SIGTERM): Jetty's stop-at-shutdown hook then closes the
 * server and Solr's CoreContainer. Exits with status 1 when the node cannot start.
 */
public final class SolrNode {
  private static final String[] PACKAGES = {
    "org.apache.solr.embedded", // 9.x, solr-test-framework
    "org.apache.solr.client.solrj.embedded" // 8.x, solr-core
  };

  public static void main(String[] args) {
    try {
      start();
    } catch (Throwable t) {
      if (t instanceof InvocationTargetException && t.getCause() != null) {
        t = t.getCause();
      }
      System.err.println("SolrNode: could not start Solr: " + rootMessage(t));
      t.printStackTrace();
      System.exit(1); // Jetty's threads are not daemons: leave explicitly
    }
  }

  private static void start() throws Exception {
    String solrHome = required("solr.solr.home");
    int port = Integer.parseInt(required("jetty.port"));
    String context = System.getProperty("hostContext", "/solr");
    String host = System.getProperty("host", "127.0.0.1");
    String zkHost = required("zkHost");

    String pkg = embeddedPackage();
    Class<?> configClass = Class.forName(pkg + ".JettyConfig");
    Object builder = configClass.getMethod("builder").invoke(null);
    invoke(builder, "setPort", int.class, port);
    invoke(builder, "setContext", String.class, context);
    invoke(builder, "stopAtShutdown", boolean.class, true);
    // 8.x only; 9.x always binds 127.0.0.1.
    invokeIfPresent(builder, "setHost", String.class, host);
    // Fail at once when the port is taken instead of retrying for a minute.
    invokeIfPresent(builder, "withPortRetryTime", int.class, 0);
    String keyStore = System.getProperty("bluegreen.ssl.keyStore", "");
    if (!keyStore.isEmpty()) {
      String password = System.getProperty("bluegreen.ssl.keyStorePassword", "");
      // SSLConfig(useSsl, clientAuth, keyStore, keyStorePassword, trustStore, trustStorePassword)
      Class<?> sslClass = Class.forName("org.apache.solr.client.solrj.embedded.SSLConfig");
      Object ssl =
          sslClass
              .getConstructor(
                  boolean.class, boolean.class, String.class, String.class, String.class, String.class)
              .newInstance(true, false, keyStore, password, keyStore, password);
      invoke(builder, "withSSLConfig", sslClass, ssl);
      // HTTP/1.1 over TLS (ALPN offers only h2 otherwise: clients that speak HTTP/1.1 only, as
      // bluegreen's and most others, are refused); Solr's own client follows (solr.http1).
      invoke(builder, "useOnlyHttp1", boolean.class, true);
      System.setProperty("solr.http1", "true");
      // JettySolrRunner builds its connectors from JettyConfig (SSL included) only in test mode.
      System.setProperty("jetty.testMode", "true");
    }
    Object config = builder.getClass().getMethod("build").invoke(builder);

    // Substituted into solr.xml (${host}, ${zkHost}, ...); JettySolrRunner adds hostPort/hostContext.
    Properties nodeProps = new Properties();
    nodeProps.setProperty("host", host);
    nodeProps.setProperty("zkHost", zkHost);

    Class<?> runnerClass = Class.forName(pkg + ".JettySolrRunner");
    Object runner =
        runnerClass
            .getConstructor(String.class, Properties.class, configClass)
            .newInstance(solrHome, nodeProps, config);
    runnerClass.getMethod("start").invoke(runner);

    // Jetty may come up with a failed Solr filter (e.g. ZooKeeper unreachable): treat as failure.
    Object cores = runnerClass.getMethod("getCoreContainer").invoke(runner);
    boolean running = (Boolean) runnerClass.getMethod("isRunning").invoke(runner);
    if (!running || cores == null || (Boolean) invoke(cores, "isShutDown")) {
      throw new IllegalStateException("Solr did not initialise; see the log above");
    }
    if (!(Boolean) invoke(cores, "isZooKeeperAware")) {
      throw new IllegalStateException("Solr did not start in SolrCloud mode");
    }
    System.out.println(
        "SolrNode: Solr "
            + cores.getClass().getPackage().getSpecificationVersion()
            + " up at "
            + runnerClass.getMethod("getBaseUrl").invoke(runner)
            + " as node "
            + runnerClass.getMethod("getNodeName").invoke(runner)
            + " (zkHost "
            + zkHost
            + ")");
  }

  private static String embeddedPackage() {
    for (String pkg : PACKAGES) {
      try {
        Class.forName(pkg + ".JettySolrRunner", false, SolrNode.class.getClassLoader());
        return pkg;
      } catch (ClassNotFoundException e) {
        // try the next location
      }
    }
    throw new IllegalStateException(
        "JettySolrRunner is not on the classpath (need solr-core 8.x or solr-test-framework 9.x)");
  }

  private static String required(String name) {
    String value = System.getProperty(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("system property " + name + " is required");
    }
    return value;
  }

  private static Object invoke(Object target, String name) throws Exception {
    return target.getClass().getMethod(name).invoke(target);
  }

  private static Object invoke(Object target, String name, Class<?> type, Object arg)
      throws Exception {
    return target.getClass().getMethod(name, type).invoke(target, arg);
  }

  private static void invokeIfPresent(Object target, String name, Class<?> type, Object arg)
      throws Exception {
    Method m;
    try {
      m = target.getClass().getMethod(name, type);
    } catch (NoSuchMethodException e) {
      return;
    }
    m.invoke(target, arg);
  }

  private static String rootMessage(Throwable t) {
    Throwable root = t;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root == t ? String.valueOf(t) : t + " (cause: " + root + ")";
  }
}
