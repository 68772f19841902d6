"""The file to give ``spark-submit``: runs ``gongji ARGS…`` in the driver Spark started.

    spark-submit --master yarn … "$(python -c 'import engine.batch.submit as m; print(m.__file__)')" \
        batch hdfs:///in.parquet --out out.parquet --engine spark
"""

import sys

from engine.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
