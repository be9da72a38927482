# A small but real workload: parse a CSV, aggregate it with the stdlib,
# run a few coroutines concurrently, and return a summary as `result`.
import asyncio
import csv
import io
import statistics
from collections import defaultdict

DATA = """city,month,temp_c
Oslo,1,-4.3
Oslo,7,16.4
Lisbon,1,11.6
Lisbon,7,23.5
Nairobi,1,19.3
Nairobi,7,15.8
"""

by_city = defaultdict(list)
for row in csv.DictReader(io.StringIO(DATA)):
    by_city[row["city"]].append(float(row["temp_c"]))


async def describe(city, temps):
    await asyncio.sleep(0.01)  # stands in for I/O
    return city, round(statistics.mean(temps), 2), round(max(temps) - min(temps), 1)


rows = await asyncio.gather(*(describe(c, t) for c, t in sorted(by_city.items())))
for city, mean, spread in rows:
    print(f"{city:8} mean {mean:6.2f} °C   yearly spread {spread:5.1f} °C")

result = {city: {"mean": mean, "spread": spread} for city, mean, spread in rows}
