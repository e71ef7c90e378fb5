(function(){
"use strict";
function nice(r){var raw=Math.max(r/10,1),mag=Math.pow(10,Math.floor(Math.log10(raw))),n=raw/mag;
  return Math.max(1,Math.round((n<=1?1:n<=2?2:n<=5?5:10)*mag));}
function trim(s){return s.indexOf(".")<0?s:s.replace(/0+$/,"").replace(/\.$/,"");}
function label(t,step){if(t===0)return "0";var d,u;
  if(step>=100000){d=1e6;u="s";}else if(step>=100){d=1e3;u="ms";}else{d=1;u="\u00b5s";}
  return trim((t/d).toFixed(step/d>=1?0:1))+" "+u;}
function Timeline(svg){
  var me=this;this.svg=svg;this.ns=svg.namespaceURI;
  this.x0=+svg.getAttribute("data-x0");this.x1=+svg.getAttribute("data-x1");
  this.end=+svg.getAttribute("data-end");this.top=+svg.getAttribute("data-top");
  this.bottom=+svg.getAttribute("data-bottom");this.t0=0;this.t1=this.end;
  this.els=Array.prototype.slice.call(svg.querySelectorAll("[data-a]:not([data-g])"));
  this.labels=Array.prototype.slice.call(svg.querySelectorAll("[data-g]"));
  this.ax=svg.querySelector(".ax");this.sel=svg.querySelector(".sel");
  var start=null;
  svg.addEventListener("mousedown",function(e){
    if(e.button!==0)return;var x=me.px(e);if(x<me.x0||x>me.x1)return;
    start=x;me.sel.setAttribute("x",x);me.sel.setAttribute("width",0);
    me.sel.style.visibility="visible";e.preventDefault();});
  window.addEventListener("mousemove",function(e){if(start===null)return;
    var x=Math.min(Math.max(me.px(e),me.x0),me.x1);
    me.sel.setAttribute("x",Math.min(x,start));me.sel.setAttribute("width",Math.abs(x-start));});
  window.addEventListener("mouseup",function(e){if(start===null)return;
    var x=Math.min(Math.max(me.px(e),me.x0),me.x1),a=Math.min(x,start),b=Math.max(x,start);
    start=null;me.sel.style.visibility="hidden";
    if(b-a>4)me.zoom(me.t(a),me.t(b));});
  svg.addEventListener("dblclick",function(){me.zoom(0,me.end);});
  this.relabel();
  svg.setAttribute("data-ready","");
}
Timeline.prototype.px=function(e){var p=this.svg.createSVGPoint();p.x=e.clientX;p.y=e.clientY;
  return p.matrixTransform(this.svg.getScreenCTM().inverse()).x;};
Timeline.prototype.t=function(x){return this.t0+(x-this.x0)/(this.x1-this.x0)*(this.t1-this.t0);};
Timeline.prototype.x=function(t){return this.x0+(t-this.t0)/(this.t1-this.t0)*(this.x1-this.x0);};
Timeline.prototype.zoom=function(a,b){
  var span=Math.max(b-a,20);if(span>=this.end){a=0;span=this.end;}
  a=Math.min(Math.max(a,0),this.end-span);this.t0=a;this.t1=a+span;this.layout();};
Timeline.prototype.act=function(z){var c=(this.t0+this.t1)/2,s=this.t1-this.t0;
  if(z==="in")this.zoom(c-s/4,c+s/4);else if(z==="out")this.zoom(c-s,c+s);
  else if(z==="left")this.zoom(this.t0-s/2,this.t1-s/2);else if(z==="right")this.zoom(this.t0+s/2,this.t1+s/2);
  else this.zoom(0,this.end);};
Timeline.prototype.layout=function(){
  for(var i=0;i<this.els.length;i++){var el=this.els[i],a=+el.getAttribute("data-a"),
      bs=el.getAttribute("data-b"),b=bs===null?a:+bs,tag=el.tagName.toLowerCase();
    if(tag==="line"){el.setAttribute("x1",this.x(a).toFixed(1));el.setAttribute("x2",this.x(b).toFixed(1));}
    else if(tag==="rect"){var xa=this.x(a);el.setAttribute("x",xa.toFixed(1));el.setAttribute("width",Math.max(1,this.x(b)-xa).toFixed(1));}
    else if(tag==="circle"){el.setAttribute("cx",this.x(a).toFixed(1));}}
  this.relabel();
  while(this.ax.firstChild)this.ax.removeChild(this.ax.firstChild);
  var step=nice(this.t1-this.t0);
  for(var t=Math.ceil(this.t0/step)*step;t<=this.t1;t+=step){var x=this.x(t).toFixed(1),
      l=document.createElementNS(this.ns,"line"),tx=document.createElementNS(this.ns,"text");
    l.setAttribute("x1",x);l.setAttribute("x2",x);l.setAttribute("y1",this.top-4);l.setAttribute("y2",this.bottom);
    tx.setAttribute("x",x);tx.setAttribute("y",this.top-9);tx.textContent=label(Math.round(t),step);
    this.ax.appendChild(l);this.ax.appendChild(tx);}};
/* Label layout, the same rules as place_labels in html.rs but with measured
   widths: per group, greedily from the left, in the group's rows; a label
   that fits nowhere is hidden (its mark keeps the text in a tooltip). */
var DX=4,GAP=6;
Timeline.prototype.extent=function(el){
  if(el._w===undefined)el._w=el.getComputedTextLength();
  var w=el._w,lo=this.x0+2,hi=this.x1-2,x=this.x(+el.getAttribute("data-a")),s;
  if(el.getAttribute("data-fit")==="span"){
    if(this.x(+el.getAttribute("data-b"))<lo||x>hi)return null;
    s=Math.max(Math.min(Math.max(x,lo)+DX,hi-w),lo);return {s:s,e:s+w,x:s,end:false};}
  if(x<this.x0||x>this.x1)return null;
  if(x+DX+w<=hi)return {s:x+DX,e:x+DX+w,x:x+DX,end:false};
  var e=Math.max(x-DX,lo+w);return {s:e-w,e:e,x:e,end:true};};
Timeline.prototype.relabel=function(){
  var groups={},keys=[],i,j;
  for(i=0;i<this.labels.length;i++){var g=this.labels[i].getAttribute("data-g");
    if(!groups[g]){groups[g]=[];keys.push(g);}groups[g].push(this.labels[i]);}
  for(j=0;j<keys.length;j++){var list=groups[keys[j]],todo=[];
    var ys=list[0].getAttribute("data-ys").split(" ").map(Number),ends=ys.map(function(){return -Infinity;});
    for(i=0;i<list.length;i++){var p=this.extent(list[i]);
      if(p){p.el=list[i];todo.push(p);}else this.put(list[i],null,ys[0]);}
    todo.sort(function(p,q){return p.s-q.s;});
    for(i=0;i<todo.length;i++){var t=todo[i],r=0;
      while(r<ends.length&&ends[r]+GAP>t.s)r++;
      if(r<ends.length){ends[r]=t.e;this.put(t.el,t,ys[r]);}else this.put(t.el,null,ys[0]);}}};
Timeline.prototype.put=function(el,p,y){
  if(p){el.removeAttribute("visibility");el.setAttribute("x",p.x.toFixed(1));
    if(p.end)el.setAttribute("text-anchor","end");else el.removeAttribute("text-anchor");}
  else el.setAttribute("visibility","hidden");
  el.setAttribute("y",y);
  var ln=el.previousElementSibling;
  if(el.hasAttribute("data-tail")&&ln)ln.setAttribute("y2",y-9);};
var bars=document.querySelectorAll(".tl-bar");
for(var i=0;i<bars.length;i++)(function(bar){
  var svg=document.getElementById(bar.getAttribute("data-for"));if(!svg)return;
  var tl=new Timeline(svg);
  bar.addEventListener("click",function(e){var z=e.target.getAttribute&&e.target.getAttribute("data-z");if(z)tl.act(z);});
  bar.addEventListener("change",function(e){var k=e.target.getAttribute("data-k");
    if(k!==null)svg.classList.toggle("h"+k,!e.target.checked);});
})(bars[i]);
var copies=document.querySelectorAll("button.copy");
for(var j=0;j<copies.length;j++)copies[j].addEventListener("click",function(e){
  var b=e.target,el=document.getElementById(b.getAttribute("data-for"));if(!el)return;
  var done=function(){b.textContent="copied";setTimeout(function(){b.textContent="copy";},1500);};
  if(navigator.clipboard&&navigator.clipboard.writeText){navigator.clipboard.writeText(el.textContent).then(done,function(){});}
  else{var r=document.createRange();r.selectNodeContents(el);var s=window.getSelection();s.removeAllRanges();s.addRange(r);}});
})();
