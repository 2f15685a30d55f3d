# hangmatrix: what = opentelemetry's BatchSpanProcessor under patch_all, then an import that forks (python-magic finds libmagic through a subprocess): the hub reports a failed callback on stderr and the program exits 0
# hangmatrix: source = https://github.com/open-telemetry/opentelemetry-python/issues/3897 (also gevent/gevent#2041)
# hangmatrix: reported = "I'm getting an `AssertionError` when running the following code ... AssertionError: (None, <callback at 0x7f72a5936040 args=([],)>) ... <callback at 0x7f72a5936040 args=([],)> failed with AssertionError" (reporter davidhewitt; Python 3.12.3, gevent 24.2.1, opentelemetry-sdk 1.24.0, python-magic 0.4.27); the commenter traced it to os.register_at_fork
# hangmatrix: requires = opentelemetry-sdk, python-magic
import gevent.monkey

gevent.monkey.patch_all()

from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

processor = BatchSpanProcessor(SpanExporter(), schedule_delay_millis=500)

# doing this import shows the error
import magic
