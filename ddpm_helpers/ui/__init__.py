"""What every notebook's pictures, tables, panels and exercises share: one figure style (``style``), one
Markdown table builder (``tables``), the slider-panel base (``panels``) and one engine that checks students'
answers (``checking``). Lessons build on these; the core never imports them."""
