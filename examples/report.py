# A small but real workload: ask the host for data through a callback (many
# calls in flight at once), aggregate it with the stdlib, print a report and
# return a summary as `result`.
import asyncio
import statistics

CITIES = ["Oslo", "Lisbon", "Nairobi", "Atlantis"]


async def describe(city):
    try:
        temps = await get_temperatures(city=city)  # a host callback
    except CallbackError as e:
        return city, None, str(e)
    return city, round(statistics.mean(temps), 2), round(max(temps) - min(temps), 1)


rows = await asyncio.gather(*(describe(c) for c in CITIES))
for city, mean, spread in rows:
    if mean is None:
        print(f"{city:8} unavailable: {spread}")
    else:
        print(f"{city:8} mean {mean:6.2f} °C   yearly spread {spread:5.1f} °C")

result = {city: {"mean": mean, "spread": spread} for city, mean, spread in rows
          if mean is not None}
