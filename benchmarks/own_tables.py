"""Five tables like real ones, seeded, and each trained from `nettrain init --data` in one go.

    python benchmarks/own_tables.py OUT_DIR          # write the five CSV files into OUT_DIR
    python benchmarks/own_tables.py OUT_DIR --fit    # then, per table: nettrain init --data ...
                                                     # and nettrain fit, printing the test line
    python benchmarks/own_tables.py OUT_DIR --baseline   # scikit-learn's HistGradientBoosting

loans: an id running 1..n and 5% defaults; animals: 48 species, some with 1-2 rows, missing
labels and a code column that gives the label away; weather: hourly rows with an ISO
timestamp; credit: gaps in six columns; diamonds: three text columns and a price spanning
100x. The figures in docs/your-own-table.md come from `--fit`.
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGETS = {"loans": "default", "animals": "species", "weather": "temperature_c",
           "credit": "risk", "diamonds": "price"}


def loans(n=20000, seed=1):
    """An id column running 1..n and a 5% minority class (default)."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(list("ABCDEFG"), n, p=[.2, .25, .22, .15, .1, .05, .03])
    g = np.searchsorted(list("ABCDEFG"), grade)
    income = np.round(rng.lognormal(10.9, 0.5, n), -2)
    amount = np.round(rng.uniform(1000, 35000, n), -2)
    rate = np.round(6 + 2.5 * g + rng.normal(0, 1, n), 2)
    dti = np.round(np.clip(rng.normal(18, 8, n), 0, 45), 1)
    term = rng.choice(["36 months", "60 months"], n, p=[.7, .3])
    purpose = rng.choice(["debt_consolidation", "credit_card", "home_improvement", "car",
                          "medical", "small_business", "other"], n)
    home = rng.choice(["RENT", "OWN", "MORTGAGE"], n)
    emp = rng.integers(0, 11, n)
    z = (-4.2 + 0.45 * g + 0.04 * (dti - 18) + 0.5 * (term == "60 months")
         + 0.6 * np.log(amount / income * 10 + 0.1) + 0.4 * (purpose == "small_business")
         - 0.05 * emp)
    p = 1 / (1 + np.exp(-z))
    # calibrate to 5%
    shift = np.log(0.05 / 0.95) - np.log(np.mean(p) / (1 - np.mean(p)))
    p = 1 / (1 + np.exp(-(z + shift * 1.0)))
    default = rng.random(n) < p
    return pd.DataFrame({"loan_id": np.arange(1, n + 1), "loan_amnt": amount, "term": term,
                         "int_rate": rate, "grade": grade, "emp_length": emp,
                         "home_ownership": home, "annual_inc": income, "purpose": purpose,
                         "dti": dti, "default": np.where(default, "yes", "no")})


def animals(n=3000, seed=2):
    """48 classes, several with 1-2 rows, missing labels, a species_code that leaks."""
    rng = np.random.default_rng(seed)
    k = 48
    names = [f"species_{i:02d}" for i in range(k)]
    names[:6] = ["red fox", "badger", "roe deer", "hedgehog", "[other]", "otter"]
    weights = rng.dirichlet(np.full(k, 0.8))
    counts = np.maximum(1, np.round(weights * (n - 60)).astype(int))
    counts[-6:] = [1, 1, 2, 2, 1, 2]  # rare classes
    labels = np.repeat(np.arange(k), counts)
    rng.shuffle(labels)
    m = len(labels)
    centers = rng.normal(0, 2.5, (k, 5))
    feats = centers[labels] + rng.normal(0, 1, (m, 5))
    habitat_of = rng.integers(0, 4, k)
    habitats = np.array(["woodland", "grassland", "wetland", "urban"])
    habitat = np.where(rng.random(m) < 0.8, habitats[habitat_of[labels]], rng.choice(habitats, m))
    df = pd.DataFrame({
        "record": [f"R{100000 + i}" for i in range(m)],
        "site": rng.choice([f"site_{j}" for j in range(30)], m),
        "habitat": habitat,
        "body_length_cm": np.round(30 + 8 * feats[:, 0], 1),
        "weight_kg": np.round(np.exp(1 + 0.4 * feats[:, 1]), 2),
        "tail_cm": np.round(10 + 3 * feats[:, 2], 1),
        "ear_mm": np.round(40 + 6 * feats[:, 3], 1),
        "night_sightings": np.clip(np.round(3 + feats[:, 4]), 0, None).astype(int),
        "species_code": np.array([f"SP{i:03d}" for i in range(k)])[labels],
        "species": np.array(names, dtype=object)[labels],
    })
    gone = rng.random(m) < 0.04
    df.loc[gone, "species"] = None
    df.loc[gone, "species_code"] = None
    return df


def weather(n=8760, seed=3):
    """Hourly weather, a timestamp column; target: temperature."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-01-01", periods=n, freq="h")
    doy, hour = t.day_of_year.to_numpy(), t.hour.to_numpy()
    season = -np.cos(2 * np.pi * (doy - 15) / 365)
    daily = -np.cos(2 * np.pi * (hour - 3) / 24)
    noise = np.cumsum(rng.normal(0, 0.3, n))
    noise -= np.convolve(noise, np.ones(240) / 240, mode="same")
    humidity = np.clip(70 - 15 * daily + rng.normal(0, 8, n), 15, 100).round(0)
    pressure = (1013 + np.cumsum(rng.normal(0, 0.4, n)) * 0.3).round(1)
    pressure = (pressure - (pressure.mean() - 1013)).round(1)
    wind = np.abs(rng.normal(3, 2, n)).round(1)
    cloud = rng.choice(["clear", "partly cloudy", "overcast", "rain"], n, p=[.35, .3, .25, .1])
    temp = (10 + 9 * season + 4 * daily + noise - 2 * (cloud == "rain") - 0.05 * (humidity - 70)
            + rng.normal(0, 0.5, n)).round(1)
    return pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%S"), "humidity": humidity,
                         "pressure_hpa": pressure, "wind_ms": wind, "sky": cloud,
                         "temperature_c": temp})


def credit(n=5000, seed=4):
    """A credit table with gaps in several feature columns (and a customer id 1..n)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(19, 80, n).astype(float)
    income = np.round(rng.lognormal(10.5, 0.6, n), -1)
    debt = np.round(income * rng.beta(2, 5, n), -1)
    history = np.clip(rng.normal(12, 8, n), 0, 50).round(0)
    late = rng.poisson(0.6, n).astype(float)
    cards = rng.integers(0, 8, n).astype(float)
    job = rng.choice(["salaried", "self-employed", "retired", "student", "unemployed"], n,
                     p=[.55, .15, .15, .1, .05])
    region = rng.choice(["north", "south", "east", "west"], n)
    z = (0.8 - 2.5 * debt / income + 0.05 * history - 0.9 * late + 0.01 * (age - 40)
         - 0.8 * (job == "unemployed") + 0.3 * (job == "salaried") + rng.normal(0, 0.7, n))
    good = np.where(z > 0, "good", "bad")
    df = pd.DataFrame({"customer_id": np.arange(1, n + 1), "age": age, "income": income,
                       "debt": debt, "credit_history_years": history, "late_payments": late,
                       "open_cards": cards, "employment": job, "region": region,
                       "risk": good})
    for col, share in [("income", .08), ("debt", .05), ("credit_history_years", .12),
                       ("late_payments", .03), ("employment", .06), ("age", .02)]:
        df.loc[rng.random(n) < share, col] = None
    return df


def diamonds(n=20000, seed=5):
    """Diamonds-like: carat, cut, color, clarity (categoricals), dimensions; target price."""
    rng = np.random.default_rng(seed)
    carat = np.round(np.clip(rng.lognormal(-0.45, 0.55, n), 0.2, 5), 2)
    cuts = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
    colors = list("DEFGHIJ")
    clarities = ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"]
    cut = rng.choice(cuts, n, p=[.03, .09, .22, .26, .40])
    color = rng.choice(colors, n, p=[.12, .18, .18, .21, .15, .1, .06])
    clarity = rng.choice(clarities, n, p=[.015, .17, .24, .23, .15, .09, .07, .035])
    ci = np.searchsorted(cuts, cut) if False else np.array([cuts.index(c) for c in cut])
    co = np.array([colors.index(c) for c in color])
    cl = np.array([clarities.index(c) for c in clarity])
    depth = np.round(rng.normal(61.8, 1.4, n), 1)
    table = np.round(rng.normal(57.4, 2.2, n), 0)
    x = np.round(6.45 * carat ** (1 / 3) + rng.normal(0, 0.05, n), 2)
    y = np.round(x + rng.normal(0, 0.05, n), 2)
    z = np.round(x * depth / 100, 2)
    logp = (8.4 + 1.7 * np.log(carat) + 0.04 * ci - 0.07 * co + 0.09 * cl
            + rng.normal(0, 0.12, n))
    price = np.round(np.exp(logp)).astype(int)
    return pd.DataFrame({"carat": carat, "cut": cut, "color": color, "clarity": clarity,
                         "depth": depth, "table": table, "price": price, "x": x, "y": y, "z": z})


DROPPED = {"loans": ["loan_id"], "animals": ["species_code", "record"], "credit": ["customer_id"]}


def baseline(out, name, target):
    """HistGradientBoosting (defaults, seed 0) on a random 85/15 split of the labelled rows,
    the columns init leaves out dropped, text as categories, the timestamp as its parts."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(out / f"{name}.csv").dropna(subset=[target])
    df = df.drop(columns=DROPPED.get(name, []))
    if "time" in df:
        t = pd.to_datetime(df.pop("time"))
        df = df.assign(month=t.dt.month, day=t.dt.day, hour=t.dt.hour)
    y, X = df.pop(target), df
    for c in X.columns:
        if not pd.api.types.is_numeric_dtype(X[c]):
            X[c] = X[c].astype("category")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.15, random_state=0)
    if pd.api.types.is_numeric_dtype(y) and y.nunique() > 20:
        model = HistGradientBoostingRegressor(categorical_features="from_dtype", random_state=0)
        return f"R2 {r2_score(y_te, model.fit(X_tr, y_tr).predict(X_te)):.4f}"
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    pred = model.fit(X_tr, y_tr).predict(X_te)
    text = f"balanced accuracy {balanced_accuracy_score(y_te, pred):.4f}"
    if y.nunique() == 2:
        positive = sorted(y.unique())[1]
        auc = roc_auc_score(y_te == positive, model.predict_proba(X_te)[:, 1])
        text += f", ROC AUC {auc:.4f}"
    return f"accuracy {(pred == y_te).mean():.4f}, " + text


def main(argv):
    out = Path(argv[0] if argv and not argv[0].startswith("--") else "own_tables")
    out.mkdir(parents=True, exist_ok=True)
    makers = {"loans": loans, "animals": animals, "weather": weather, "credit": credit,
              "diamonds": diamonds}
    for name, make in makers.items():
        frame = make()
        frame.to_csv(out / f"{name}.csv", index=False)
        print(f"{out / name}.csv: {frame.shape[0]:,} rows, {frame.shape[1]} columns")
    if "--baseline" in argv:
        for name, target in TARGETS.items():
            print(f"{name} HistGradientBoosting: {baseline(out, name, target)}")
    if "--fit" not in argv:
        return
    for name, target in TARGETS.items():
        subprocess.run(["nettrain", "init", "--data", f"{name}.csv", "--target", target, "-o",
                        f"{name}.yaml", "--force"], cwd=out, check=True)
        started = time.perf_counter()
        result = subprocess.run(["nettrain", "fit", f"{name}.yaml"], cwd=out, check=True,
                                capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines()
                 if line.startswith(("Saved weights", "test:"))]
        print(f"{name} ({time.perf_counter() - started:.0f} s): " + " | ".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
