# %% [markdown]
# # trainsim from Python
#
# The Python API in a few steps: the rail network, a route, a scenario simulated and compared
# with the reported times, and the outputs. Run it as a script (`python examples/quickstart.py`,
# which writes into `outputs/` under the current folder) or open it as a notebook: the `# %%`
# cells are what VS Code, Spyder and Jupytext (`jupytext --to notebook`) understand.
# The test suite runs this file (tests/test_api.py).

# %%
import numpy as np

from simulator import (
    bundled_scenarios,
    compare_scenarios,
    find_route,
    load_network,
    load_scenario,
    run_scenario,
)

# %% [markdown]
# ## The rail network and a route
#
# The bundled network covers North Korea, north-east and central China, the Russian Far East
# and northern Vietnam (OpenStreetMap-derived, © OpenStreetMap contributors, ODbL).

# %%
network = load_network()
route = find_route(network, ["Pyongyang", "Tumangang", "Khasan"])
print(f"{' → '.join(route.stops)}: {route.length_km:,.0f} km, "
      f"{route.ratio:.2f}× the shortest track")
print(route.km_by("country"))
segments = route.to_geodataframe()  # one row per segment; segments.explore() maps it
print(segments[["line", "country", "length_km"]].head())

# %% [markdown]
# ## A scenario: the 2019 trip to the Hanoi summit
#
# Scenarios ship with trainsim and can be named instead of given as files.

# %%
print("bundled scenarios:", ", ".join(bundled_scenarios()))
scenario = load_scenario("hanoi-2019")
result = run_scenario(scenario, replications=200, seed=1, network=network, workers=1)
print(result)

# %% [markdown]
# Every table is a pandas DataFrame: the timeline (every place and event, with bands), the
# legs of the journey stop to stop, and the reported times against the simulation.

# %%
print(result.legs[["from", "to", "km", "median_h", "p05_h", "p95_h"]])
print(result.comparison[["leg", "kind", "reported_h", "sim_median_h", "reported_in_band"]]
      .to_string())
arrival = result.timeline.query("event == 'arrive'").iloc[-1]
print(f"arrival at {arrival['place']}: {arrival['median_local']} (median)")

# %% [markdown]
# What dominates the journey time? Running at the speed profile, the halts by kind, and the
# rest (unplanned stops, waiting for the pilot train, night rules), in median hours:

# %%
print(result.breakdown.round(2))
print(f"rail journey: median {np.median(result.journey_hours):.1f} h")

# %% [markdown]
# ## Charts and files

# %%
ax = result.plot_timedistance()  # in a notebook the chart shows; here it goes to a file
ax.figure.savefig("timedistance.png")
folder = result.write("outputs/example-hanoi-2019", replace=True)
print("wrote", folder)

# %% [markdown]
# ## Several scenarios compared

# %%
both = compare_scenarios(["vladivostok-2019", "vostochny-2023"], replications=100, seed=1,
                         network=network, workers=1)
print(both.comparison[["scenario", "leg", "reported_h", "sim_median_h", "error_pct"]]
      .to_string())
print(both.summary().splitlines()[-1])
