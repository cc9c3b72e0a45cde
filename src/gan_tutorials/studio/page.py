"""The studio, part 3: the Gradio page, one tab per step of the story, over `tabs`.

Named endpoints (for `gradio_client`; State inputs are not part of them):
  draw(run, label, seed)                       -> grid image
  steer(run, digit, slant, thickness, height)  -> grid, table, .npz, summary, the article's digits
  preview(run, digit, slant, thickness, height) -> grid, note   (while a slider moves)

Every first result is computed here, at build time, and placed in its
component: a page is complete before its first request.
"""

import functools
import os
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home

import gradio as gr  # noqa: E402  (after the setting above)

from gan_tutorials import latent, morphometry  # noqa: E402
from gan_tutorials.control import ATTRIBUTES  # noqa: E402
from gan_tutorials.control.steering import CORE  # noqa: E402
from gan_tutorials.studio import tabs  # noqa: E402
from gan_tutorials.studio.shelf import Shelf, StudioError, steerable  # noqa: E402

MORE = tuple(a for a in ATTRIBUTES if a not in CORE)  # width, length, area: under "more"
DEFAULT_DIGIT = 7
SIGNS = {"+": 1, "-": -1}


def served(fn):
    """fn with a StudioError shown on the page (and to API clients) as its message, not a traceback."""
    @functools.wraps(fn)  # the endpoint's parameters keep fn's names
    def call(*args):
        try:
            return fn(*args)
        except StudioError as err:
            raise gr.Error(str(err)) from None
    return call


def sliders_for(reach):
    """A slider per measure spanning its reach, at its median."""
    return {a: dict(minimum=lo, maximum=hi, value=median, step=0.01,
                    label=f"{a} ({morphometry.UNITS[a]})") for a, (lo, hi, median) in reach.items()}


def control_request(digit, values, extras):
    """The request the Control tab sends: its targets, held measures, count and seed."""
    hold = list(extras["hold"])
    targets = {a: values[a] for a in extras["steer"] if a not in hold}
    return {"digit": digit, "targets": targets, "hold": hold, "n": int(extras["n"]),
            "seed": int(extras["seed"])}


def build(run_dirs, shelf=None, warm=True):
    """The studio over run folders (fixed here): a gr.Blocks to `.launch()`.

    warm: start drawing, in the background, what first requests would wait for.
    """
    shelf = shelf or Shelf(run_dirs)
    names = shelf.names()
    first = (shelf.names(steerable) or names)[0]
    # The tabs' first results, computed side by side: most of the work is TensorFlow's
    # and scikit-image's, which leave Python's lock to the other threads.
    with ThreadPoolExecutor(4) as pool:
        if shelf[first].control is not None:  # the article's side of Control's first request
            pool.submit(shelf[first].article, DEFAULT_DIGIT)
        firsts = {"control": pool.submit(first_control, shelf),
                  "explore": pool.submit(first_explore, shelf[first]),
                  "runs": pool.submit(lambda: (tabs.runs_table(shelf), tabs.quality_figure(shelf)))}
        firsts = {k: v.result() for k, v in firsts.items()}
    with gr.Blocks(title="gan_tutorials studio") as page:
        gr.Markdown("# gan_tutorials studio\nThe latent space of the runs "
                    f"{', '.join(names)}: draw, steer, explore and compare.")
        with gr.Tab("Draw"):
            draw_tab(shelf, first)
        with gr.Tab("Control"):
            control_tab(shelf, firsts["control"])
        with gr.Tab("Explore"):
            explore_tab(shelf, first, firsts["explore"])
        with gr.Tab("Runs"):
            gr.Markdown(firsts["runs"][0])
            gr.Plot(firsts["runs"][1], label="quality against epoch")
    page.queue(default_concurrency_limit=1)
    if warm:
        shelf.warm()
    return page


def class_choices(run, every=True):
    """A class dropdown's choices for a run: its class names (and "all")."""
    return (["all"] if every and run.conditional else []) + list(run.spec.class_names)


def draw_tab(shelf, first):
    """Tab 1: samples of a run, one class or all, from a shown seed."""
    run = shelf[first]
    with gr.Row():
        name = gr.Dropdown(shelf.names(), value=first, label="run", allow_custom_value=True)
        label = gr.Dropdown(class_choices(run), value="all", label="class", allow_custom_value=True)
        seed = gr.Number(0, precision=0, label="seed", minimum=0)
        again = gr.Button("new noise")
    image = gr.Image(tabs.draw_grid(run, "all", 0), format="png", label="samples", elem_id="draw-grid")

    def pick_run(run_name):
        run = shelf[run_name]
        return gr.Dropdown(choices=class_choices(run), value="all")

    def draw(run, label, seed):
        return tabs.draw_grid(shelf[run], label, seed)

    # The endpoint clients call, named first so that it keeps its name; the
    # page's own controls call the same function below.
    gr.Button("draw", visible=False).click(served(draw), [name, label, seed], image, api_name="draw")
    private = dict(api_visibility="private")
    name.change(pick_run, name, label, **private).then(served(draw), [name, label, seed], image, **private)
    again.click(lambda s: int(s or 0) + 1, seed, seed, **private)
    for trigger in (label.input, seed.change):
        trigger(served(draw), [name, label, seed], image, **private)


def first_control(shelf):
    """Control's first request and result: the first steerable run's DEFAULT_DIGIT at its medians."""
    steerables = shelf.names(steerable)
    if not steerables:
        return None
    run = shelf[steerables[0]]
    settings = sliders_for(tabs.reach(run, DEFAULT_DIGIT))
    request = {"digit": DEFAULT_DIGIT, "targets": {a: settings[a]["value"] for a in CORE},
               "hold": [], "n": tabs.STEERED, "seed": 0}
    return run, settings, request, tabs.steer_request(run, shelf.judge("mnist"), request)


def control_tab(shelf, firsts):
    """Tab 2: steer a digit's measures, live while dragging and exact on release."""
    notes = [f"- {r.control_note}" for r in shelf.runs.values() if not steerable(r)]
    steerables = shelf.names(steerable)
    if firsts is None:
        gr.Markdown("Control steers an MNIST cgan run with a control fit; this studio has none.\n\n"
                    + "\n".join(notes))
        return
    run, settings, first, result = firsts
    with gr.Row():
        name = gr.Dropdown(steerables, value=run.name, label="run", allow_custom_value=True,
                           elem_id="control-run")
        digit = gr.Dropdown(list(range(run.control.classes)), value=DEFAULT_DIGIT, label="digit",
                            allow_custom_value=True, elem_id="control-digit")
    sliders = {a: gr.Slider(**settings[a], elem_id=f"slider-{a}") for a in CORE}
    with gr.Accordion("more", open=False):
        sliders.update({a: gr.Slider(**settings[a], elem_id=f"slider-{a}") for a in MORE})
        steer_on = gr.CheckboxGroup(list(ATTRIBUTES), value=list(CORE), label="steer these measures")
        hold = gr.CheckboxGroup(list(ATTRIBUTES), value=[], label="hold these at the starting digit's")
        with gr.Row():
            count = gr.Number(tabs.STEERED, precision=0, minimum=1, maximum=64, label="digits")
            seed = gr.Number(0, precision=0, minimum=0, label="seed of the starting noise")
    extras = gr.State({"steer": list(CORE), "hold": [], "n": tabs.STEERED, "seed": 0,
                       **{a: settings[a]["value"] for a in MORE}})
    header, rows = tabs.result_rows(result, run.spec.class_names)
    with gr.Row():
        steered = gr.Image(tabs.grid(result["images"], 8), format="png", label="steered digits",
                           elem_id="steered")
        article = gr.Image(tabs.grid(result["article"]["images"], 8), format="png",
                           label="the article's method: the nearest scaled category vector")
    summary = gr.Markdown(tabs.result_summary(result, DEFAULT_DIGIT, run.spec.class_names,
                                              first["targets"]), elem_id="control-summary")
    table = gr.Dataframe(rows, headers=header, label="requested, achieved, miss", interactive=False)
    download = gr.File(str(tabs.request_file(run, first, result)), label="digits as .npz")
    if notes:
        gr.Markdown("\n".join(notes))

    def remember(*values):
        *more, steer_list, hold_list, n, s = values
        return {"steer": steer_list, "hold": hold_list, "n": int(n or 1), "seed": int(s or 0),
                **dict(zip(MORE, more))}

    def asked(run, digit, slant, thickness, height, extras):
        """(the Run, its request) from an event's inputs; run is a name, never a path."""
        values = {"slant": slant, "thickness": thickness, "height": height,
                  **{a: extras[a] for a in MORE}}
        return shelf[run], control_request(digit, values, extras)

    def steer(run, digit, slant, thickness, height, extras):
        run, request = asked(run, digit, slant, thickness, height, extras)
        result = tabs.steer_request(run, shelf.judge("mnist"), request)
        header, rows = tabs.result_rows(result, run.spec.class_names)
        return (tabs.grid(result["images"], 8), {"headers": header, "data": rows},
                str(tabs.request_file(run, request, result)),
                tabs.result_summary(result, result["digit"], run.spec.class_names, request["targets"]),
                tabs.grid(result["article"]["images"], 8))

    def preview(run, digit, slant, thickness, height, extras):
        run, request = asked(run, digit, slant, thickness, height, extras)
        images, _ = tabs.preview(run, request)
        return tabs.grid(images, 8), "*preview: the pool's nearest digits; release to steer*"

    def rescale(run_name, digit):
        run = shelf[run_name]
        settings = sliders_for(tabs.reach(run, tabs.class_index(run, digit)))
        return [gr.Slider(**{k: v for k, v in settings[a].items() if k != "label"}) for a in ATTRIBUTES]

    inputs = [name, digit, *(sliders[a] for a in CORE), extras]
    outputs = [steered, table, download, summary, article]
    # The endpoints clients call, named first so that they keep their names. Their
    # targets are plain numbers, unbounded: the reach is checked by `tabs`, whose
    # message names it, where a slider would clip to the shown digit's range.
    api_inputs = [name, digit, *(gr.Number(visible=False, label=a) for a in CORE), extras]
    gr.Button("steer", visible=False).click(served(steer), api_inputs, outputs, api_name="steer",
                                            concurrency_id="control")
    gr.Button("preview", visible=False).click(served(preview), api_inputs, [steered, summary],
                                              api_name="preview", concurrency_id="control")
    controls = [*(sliders[a] for a in MORE), steer_on, hold, count, seed]
    for control in controls:
        event = control.change(remember, controls, extras, api_visibility="private")
        if not any(control is sliders[a] for a in MORE):  # a slider steers on its release instead
            event.then(served(steer), inputs, outputs, api_visibility="private", concurrency_id="control")
    for slider in sliders.values():
        # "once": moves during a preview are dropped, not sent after it, so no preview is
        # queued behind the release's steer to overwrite it (one queue serves both).
        slider.input(served(preview), inputs, [steered, summary], api_visibility="private",
                     trigger_mode="once", concurrency_id="control")
        slider.release(served(steer), inputs, outputs, api_visibility="private", concurrency_id="control")
    for picker in (name, digit):
        picker.change(served(rescale), [name, digit], [sliders[a] for a in ATTRIBUTES],
                      api_visibility="private").then(
            served(steer), inputs, outputs, api_visibility="private", concurrency_id="control")


FIRST_EXPLORE = {"seed": 0, "category": "thick_slanted", "scalar": 1.0, "first": "thick_straight",
                 "second": "thin_slanted", "seed_a": 1, "seed_b": 2}


def first_explore(run):
    """Explore's first results, at FIRST_EXPLORE's settings."""
    f, label = FIRST_EXPLORE, class_choices(run, every=False)[0]
    return {"grid": tabs.feature_grid(run, f["seed"]), "categories": tabs.categories(run),
            "scaled": tabs.scaled_vector(run, f["category"], f["scalar"]),
            "added": tabs.added_vectors(run, f["first"], f["second"]),
            "morph": tabs.morph(run, f["seed_a"], f["seed_b"], label)}


def explore_tab(shelf, first, firsts):
    """Tab 3: tutorial step 4, live: the feature grid, categories, a scaled vector, sums, a morph."""
    run, f = shelf[first], FIRST_EXPLORE
    categories = list(latent.CATEGORIES)
    with gr.Row():
        name = gr.Dropdown(shelf.names(), value=first, label="run", allow_custom_value=True)
        seed = gr.Number(f["seed"], precision=0, minimum=0, label="seed of the grid's noise")
    grid_image, shares = firsts["grid"]
    gr.Markdown("**The feature grid**: a row per class, a column per noise vector shared down it.")
    feature = gr.Image(grid_image, format="png", show_label=False)
    share_note = gr.Markdown(share_text(shares))
    gr.Markdown("**The four style categories**: each category's mean noise, a row each "
                f"({', '.join(categories)}), drawn as the classes {classes_text(run)}.")
    category_image = gr.Image(firsts["categories"], format="png", show_label=False)
    with gr.Row():
        with gr.Column():
            chosen = gr.Dropdown(categories, value=f["category"], label="category")
            scalar = gr.Slider(-2, 2, value=f["scalar"], step=0.05,
                               label="scalar (the tutorial scales 2 to -2)")
            image, style = firsts["scaled"]
            scaled_image = gr.Image(image, format="png", show_label=False)
            scaled_note = gr.Markdown(style_text(style))
        with gr.Column():
            with gr.Row():
                one = gr.Dropdown(categories, value=f["first"], label="first")
                sign = gr.Radio(list(SIGNS), value="+", label="")
                two = gr.Dropdown(categories, value=f["second"], label="second")
            image, style = firsts["added"]
            added_image = gr.Image(image, format="png", show_label=False)
            added_note = gr.Markdown("rows: first, second, their sum or difference. " + style_text(style))
    gr.Markdown("**A morph** between two noise vectors, along the great circle between them.")
    with gr.Row():
        seed_a = gr.Number(f["seed_a"], precision=0, minimum=0, label="noise a (seed)")
        seed_b = gr.Number(f["seed_b"], precision=0, minimum=0, label="noise b (seed)")
        label = gr.Dropdown(class_choices(run, every=False), value=class_choices(run, every=False)[0],
                            label="class")
    morph_image = gr.Image(firsts["morph"], format="png", show_label=False)

    def grid_of(n, s):
        image, shares = tabs.feature_grid(shelf[n], s)
        return image, share_text(shares)

    def scale_of(n, c, x):
        image, style = tabs.scaled_vector(shelf[n], c, x)
        return image, style_text(style)

    def sum_of(n, a, sgn, b):
        image, style = tabs.added_vectors(shelf[n], a, b, SIGNS[sgn])
        return image, "rows: first, second, their sum or difference. " + style_text(style)

    def pick_run(n):
        run = shelf[n]
        choices = class_choices(run, every=False)
        return tabs.categories(run), gr.Dropdown(choices=choices, value=choices[0])

    private = dict(api_visibility="private")
    name.change(served(pick_run), name, [category_image, label], **private)
    for trigger in (name.change, seed.change):
        trigger(served(grid_of), [name, seed], [feature, share_note], **private)
    for trigger in (name.change, chosen.change, scalar.input):
        trigger(served(scale_of), [name, chosen, scalar], [scaled_image, scaled_note],
                trigger_mode="always_last", **private)
    for trigger in (name.change, one.change, sign.change, two.change):
        trigger(served(sum_of), [name, one, sign, two], [added_image, added_note], **private)
    for trigger in (label.change, seed_a.change, seed_b.change):
        trigger(served(lambda n, a, b, lab: tabs.morph(shelf[n], a, b, lab)), [name, seed_a, seed_b, label],
                morph_image, **private)


def classes_text(run):
    names = run.spec.class_names
    return ", ".join(names[c] for c in tabs.explore_classes(run)) if run.conditional else "(no class)"


def share_text(shares):
    if not shares:
        return ""
    return ("Noise share (1 when a column's digits share their style, about 0.1 when the noise has "
            "nothing to do with it): " + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()))


def style_text(style):
    return ("Measured, mean over the classes: " + ", ".join(
        f"{k} {v:.2f} {morphometry.UNITS[k]}" for k, v in style.items())) if style else ""
